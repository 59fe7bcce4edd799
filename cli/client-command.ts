import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { readTokenFile } from '../shared/token-file.node.js';
import { setupBackend } from '../shared/engine/backend.js';
import type { ClientPolicy } from '../shared/protocol/task-policy.js';
import { loadDataSpec } from '../shared/data/data-spec.node.js';
import { splitHeldOut } from '../client/held-out-split.js';
import { loadOrCreateIdentity } from '../client/identity-file.js';
import { FatalClientError, NodeClient } from '../client/node-client.js';
import { createProgress } from '../client/progress.js';
import { fileClientAudit } from '../client/secagg-audit.js';
import { CLIENT_USAGE } from './client-usage.js';
import { DataParallelTrainer, defaultTrainingThreads } from '../client/data-parallel-trainer.js';

function readClientTokenFile(file: string): string {
  try {
    return readTokenFile('token-file', file);
  } catch (e) {
    throw new FatalClientError((e as Error).message);
  }
}

/** PEM certificates to trust for an https coordinator; an unreadable or non-PEM file is named. */
function readCaFile(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new FatalClientError(
      `--ca ${file} cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
  if (!text.includes('-----BEGIN CERTIFICATE-----'))
    throw new FatalClientError(`--ca ${file} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  return text;
}

function positiveNumber(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value <= 0)
    throw new FatalClientError(`${flag} needs a positive number, got '${text}'`);
  return value;
}

/** --threads: a positive whole number, or the default (every core, capped) when absent. */
function trainingThreads(text: string | undefined): number {
  if (text === undefined) return defaultTrainingThreads();
  const value = Number(text);
  if (text.trim() === '' || !Number.isInteger(value) || value < 1)
    throw new FatalClientError(`--threads needs a positive whole number, got '${text}'`);
  return value;
}

function clientPolicy(values: {
  'require-secure-aggregation'?: boolean;
  'min-noise-multiplier'?: string;
  'max-clip-norm'?: string;
}): ClientPolicy {
  const minNoiseMultiplier = positiveNumber('--min-noise-multiplier', values['min-noise-multiplier']);
  const maxClipNorm = positiveNumber('--max-clip-norm', values['max-clip-norm']);
  return {
    requireSecureAggregation: values['require-secure-aggregation'] === true,
    ...(minNoiseMultiplier !== undefined ? { minNoiseMultiplier } : {}),
    ...(maxClipNorm !== undefined ? { maxClipNorm } : {}),
  };
}

/** `fedserve client`: resolves with the process exit code. */
export async function clientCommand(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      server: { type: 'string' },
      data: { type: 'string' },
      token: { type: 'string' },
      'token-file': { type: 'string' },
      ca: { type: 'string' },
      'label-column': { type: 'string' },
      name: { type: 'string' },
      'eval-split': { type: 'string' },
      backend: { type: 'string' },
      threads: { type: 'string' },
      identity: { type: 'string' },
      'audit-dir': { type: 'string' },
      'require-secure-aggregation': { type: 'boolean' },
      'min-noise-multiplier': { type: 'string' },
      'max-clip-norm': { type: 'string' },
    },
  });
  if (values.token !== undefined && values['token-file'] !== undefined)
    throw new FatalClientError('give --token or --token-file, not both');
  const token =
    values['token-file'] !== undefined
      ? readClientTokenFile(values['token-file'])
      : (values.token ?? env.FEDSERVE_JOIN_TOKEN);
  const missing = [
    !values.server && '--server',
    !values.data && '--data',
    !token && '--token (or FEDSERVE_JOIN_TOKEN)',
  ].filter(Boolean);
  if (missing.length > 0) throw new FatalClientError(`missing ${missing.join(', ')}\n\n${CLIENT_USAGE}`);
  let url: URL;
  try {
    url = new URL(values.server!);
  } catch {
    throw new FatalClientError(`--server '${values.server}' is not a URL (expected e.g. http://127.0.0.1:8080)`);
  }
  const evalSplit = values['eval-split'] === undefined ? 0 : Number(values['eval-split']);
  if (!(evalSplit >= 0 && evalSplit < 1) || values['eval-split']?.trim() === '') {
    throw new FatalClientError(`--eval-split needs a fraction in [0, 1), got '${values['eval-split']}'`);
  }
  const policy = clientPolicy(values);
  const threads = trainingThreads(values.threads);
  const ca = values.ca !== undefined ? readCaFile(values.ca) : undefined;
  const loaded = await loadDataSpec(
    values.data!,
    values['label-column'] ? { labelColumn: values['label-column'] } : {},
  );
  const { train: data, heldOut } =
    evalSplit > 0 ? splitHeldOut(loaded, evalSplit) : { train: loaded, heldOut: undefined };
  const progress = createProgress(process.stdout, values.name ?? 'client');
  const backend = await setupBackend(undefined, { log: (line) => progress.line(line) });
  // Native TensorFlow already spreads each operation over every core.
  if (backend !== 'tensorflow' && threads > 1) progress.line(`training on ${threads} threads (data parallel)`);
  progress.line(
    `loaded ${loaded.n} examples from ${values.data} (they stay on this machine)${heldOut ? `, ${heldOut.n} of them held out for evaluation` : ''}`,
  );
  const client = new NodeClient({
    server: url.origin,
    token: token!,
    data,
    ...(ca ? { ca } : {}),
    progress,
    ...(values.name ? { name: values.name } : {}),
    ...(heldOut && heldOut.n > 0 ? { evalData: heldOut } : {}),
    ...(values.identity ? { identity: loadOrCreateIdentity(values.identity) } : {}),
    ...(values['audit-dir'] ? { secAggAudit: fileClientAudit(values['audit-dir'], values.name) } : {}),
    policy,
    localTrainer: new DataParallelTrainer({ threads, log: (line) => progress.line(line) }),
  });
  const stop = () => client.stop();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    await client.run();
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
  progress.line('stopped');
  return 0;
}
