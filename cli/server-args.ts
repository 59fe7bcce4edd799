import { parseArgs } from 'node:util';
import { readTokenFile } from '../shared/token-file.node.js';
import { parseCoordinatorConfig, readConfigFile, setPath, type CoordinatorConfig } from '../server/config.js';

/**
 * `fedserve server` flags, each mapped onto a path of the coordinator config, so a flag is just
 * a shorthand for a config-file field and overrides it.
 */
type FlagType = 'int' | 'number' | 'string' | 'on-off';
export const SERVER_FLAGS: Record<string, { arg: string; path: string[]; type: FlagType; help: string }> = {
  port: { arg: 'PORT', path: ['port'], type: 'int', help: 'HTTP + socket.io port (default 8080; 0 picks a free one)' },
  host: {
    arg: 'HOST',
    path: ['host'],
    type: 'string',
    help: 'interface to listen on (default 127.0.0.1; 0.0.0.0 for all)',
  },
  'data-dir': { arg: 'DIR', path: ['dataDir'], type: 'string', help: 'checkpoints and round log (default .fedserve)' },
  task: { arg: 'NAME', path: ['task'], type: 'string', help: 'task and served model name (default mnist)' },
  model: {
    arg: 'PATH',
    path: ['model'],
    type: 'string',
    help: 'tfjs Layers model.json to federate instead of the seed CNN',
  },
  eval: {
    arg: 'SPEC',
    path: ['eval'],
    type: 'string',
    help: 'held-out data SPEC scored after each commit, e.g. mnist:test, fashion-mnist:test, idx:IMAGES,LABELS',
  },
  'join-token': {
    arg: 'TOKEN',
    path: ['joinToken'],
    type: 'string',
    help: 'token clients join with (or FEDSERVE_JOIN_TOKEN)',
  },
  'client-tokens-file': {
    arg: 'FILE',
    path: ['clientTokensFile'],
    type: 'string',
    help: 'per-client join tokens, JSON {"name": "token"}: each admits only its name',
  },
  'admin-token': {
    arg: 'TOKEN',
    path: ['adminToken'],
    type: 'string',
    help: 'bearer token for admin endpoints (or FEDSERVE_ADMIN_TOKEN)',
  },
  rounds: {
    arg: 'N',
    path: ['rounds', 'start'],
    type: 'int',
    help: 'rounds to run right away (default 0: wait for POST /v1/rounds)',
  },
  'min-clients': {
    arg: 'N',
    path: ['strategy', 'sampler', 'minClients'],
    type: 'int',
    help: 'fewest clients a round selects (default 2)',
  },
  'min-available': {
    arg: 'N',
    path: ['strategy', 'sampler', 'minAvailable'],
    type: 'int',
    help: 'clients that must be connected to start (default min-clients)',
  },
  'max-clients': {
    arg: 'N',
    path: ['strategy', 'sampler', 'maxClients'],
    type: 'int',
    help: 'most clients a round selects (default unlimited)',
  },
  fraction: {
    arg: 'F',
    path: ['strategy', 'sampler', 'fraction'],
    type: 'number',
    help: 'fraction of connected clients selected (default 1)',
  },
  'min-results': {
    arg: 'N',
    path: ['rounds', 'minResults'],
    type: 'int',
    help: 'updates needed to commit a round (default 1)',
  },
  'selection-window': {
    arg: 'MS',
    path: ['rounds', 'selectionWindowMs'],
    type: 'int',
    help: 'ms selection waits for more clients (default 1000)',
  },
  'round-timeout': {
    arg: 'MS',
    path: ['rounds', 'trainingTimeoutMs'],
    type: 'int',
    help: 'training deadline in ms (default 120000)',
  },
  epochs: { arg: 'N', path: ['training', 'epochs'], type: 'int', help: 'local epochs per round (default 1)' },
  'batch-size': { arg: 'N', path: ['training', 'batchSize'], type: 'int', help: 'local batch size (default 32)' },
  'learning-rate': {
    arg: 'F',
    path: ['training', 'learningRate'],
    type: 'number',
    help: 'client learning rate (default 0.1)',
  },
  optimizer: {
    arg: 'NAME',
    path: ['training', 'optimizer'],
    type: 'string',
    help: 'client optimizer: sgd or adam (default sgd)',
  },
  'secure-aggregation': {
    arg: 'on|off',
    path: ['secureAggregation', 'enabled'],
    type: 'on-off',
    help: 'SecAgg+: the coordinator sees only the sum of updates (default off)',
  },
  'secagg-k': {
    arg: 'N',
    path: ['secureAggregation', 'k'],
    type: 'int',
    help: 'neighbours per client in the SecAgg+ graph (default from n)',
  },
  'secagg-threshold': {
    arg: 'N',
    path: ['secureAggregation', 'threshold'],
    type: 'int',
    help: 'Shamir threshold: live neighbours each survivor needs (default from n)',
  },
  'secagg-clip': {
    arg: 'F',
    path: ['secureAggregation', 'clip'],
    type: 'number',
    help: 'per-coordinate clip of updates under SecAgg+ (default 1)',
  },
  'tls-cert': {
    arg: 'FILE',
    path: ['tls', 'cert'],
    type: 'string',
    help: 'PEM certificate (chain): serve https and wss (with --tls-key)',
  },
  'tls-key': { arg: 'FILE', path: ['tls', 'key'], type: 'string', help: 'PEM private key of --tls-cert' },
  batching: {
    arg: 'on|off',
    path: ['serving', 'batching', 'enabled'],
    type: 'on-off',
    help: 'serving: merge concurrent predict requests into one forward pass (default on)',
  },
  'max-batch-size': {
    arg: 'N',
    path: ['serving', 'batching', 'maxBatchSize'],
    type: 'int',
    help: 'serving: most instances in one batched forward pass (default 64)',
  },
  'batch-timeout-micros': {
    arg: 'US',
    path: ['serving', 'batching', 'batchTimeoutMicros'],
    type: 'int',
    help: 'serving: how long a batch waits to fill once the model is free (default 0)',
  },
  'max-enqueued-batches': {
    arg: 'N',
    path: ['serving', 'batching', 'maxEnqueuedBatches'],
    type: 'int',
    help: 'serving: batches queued per version before 503 (default 32)',
  },
  'inference-thread': {
    arg: 'on|off',
    path: ['serving', 'inferenceThread'],
    type: 'on-off',
    help: 'serving: forward passes on a worker thread (wasm/cpu; default off)',
  },
  codec: {
    arg: 'NAME',
    path: ['compression', 'codec'],
    type: 'string',
    help: 'update codec: float32, int8, int4 or topk (default float32)',
  },
  'topk-fraction': {
    arg: 'F',
    path: ['compression', 'topkFraction'],
    type: 'number',
    help: 'fraction of parameters a topk update carries (default 0.1)',
  },
  'audit-dir': {
    arg: 'DIR',
    path: ['secureAggregation', 'auditDir'],
    type: 'string',
    help: 'audit mode: record every payload of secure rounds here',
  },
  cluster: {
    arg: 'URL',
    path: ['cluster', 'redis'],
    type: 'string',
    help: 'run as one node of a cluster on this Redis (redis://HOST:PORT), sharing --data-dir with the others',
  },
  'node-id': {
    arg: 'ID',
    path: ['cluster', 'nodeId'],
    type: 'string',
    help: "cluster: this node's id (default hostname-pid-random)",
  },
  'log-level': {
    arg: 'LEVEL',
    path: ['log', 'level'],
    type: 'string',
    help: 'log lines at this level and above: fatal, error, warn, info, debug, trace or silent (default info)',
  },
  'log-format': {
    arg: 'json|pretty',
    path: ['log', 'format'],
    type: 'string',
    help: 'log as JSON lines or pretty text (default pretty on a terminal, json otherwise)',
  },
};

function convert(flag: string, type: FlagType, value: string): string | number | boolean {
  if (type === 'string') return value;
  if (type === 'on-off') {
    if (value !== 'on' && value !== 'off') throw new Error(`--${flag} takes on or off, got '${value}'`);
    return value === 'on';
  }
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || (type === 'int' && !Number.isInteger(n))) {
    throw new Error(`--${flag} needs ${type === 'int' ? 'an integer' : 'a number'}, got '${value}'`);
  }
  return n;
}

/** Flags that read a token from a file, so that it never shows in the process list. */
export const TOKEN_FILE_FLAGS = {
  'join-token-file': { flag: 'join-token', field: 'joinToken' },
  'admin-token-file': { flag: 'admin-token', field: 'adminToken' },
} as const;

/** Config file (if any) < environment tokens < token files and flags; validated as a whole. */
export function serverConfigFromArgs(argv: string[], env: NodeJS.ProcessEnv): CoordinatorConfig {
  const options: Record<string, { type: 'string' }> = { config: { type: 'string' }, backend: { type: 'string' } };
  for (const flag of [...Object.keys(SERVER_FLAGS), ...Object.keys(TOKEN_FILE_FLAGS)])
    options[flag] = { type: 'string' };
  const values = parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values as Record<
    string,
    string | undefined
  >;
  const file = values.config;
  const raw = (file ? structuredClone(readConfigFile(file)) : {}) as Record<string, unknown>;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new Error(`config file ${file} must hold a JSON object`);
  if (env.FEDSERVE_JOIN_TOKEN) raw.joinToken = env.FEDSERVE_JOIN_TOKEN;
  if (env.FEDSERVE_ADMIN_TOKEN) raw.adminToken = env.FEDSERVE_ADMIN_TOKEN;
  for (const [fileFlag, { flag, field }] of Object.entries(TOKEN_FILE_FLAGS)) {
    const file = values[fileFlag];
    if (file === undefined) continue;
    if (values[flag] !== undefined) throw new Error(`give --${flag} or --${fileFlag}, not both`);
    raw[field] = readTokenFile(fileFlag, file);
  }
  for (const [flag, spec] of Object.entries(SERVER_FLAGS)) {
    const value = values[flag];
    if (value !== undefined) setPath(raw, spec.path, convert(flag, spec.type, value));
  }
  return parseCoordinatorConfig(raw, file ? `${file} and flags` : 'flags');
}
