/**
 * Property-based fuzzing of a running coordinator (a `fedserve server` child process): fast-check
 * generates hostile socket.io events (update, evaluation, secagg, unknown events, malformed raw
 * packets), hostile handshakes and hostile REST requests on every route, while two honest clients
 * keep completing rounds. Checked: the coordinator never exits, never answers 5xx, answers every
 * 4xx with a JSON {"error": "..."}, honest rounds still commit, and its memory stays bounded.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { io, type Socket } from 'socket.io-client';
import { decodeEnvelope, encodeEnvelope } from '../shared/protocol/envelope.js';
import { PROTOCOL_VERSION, type TrainTask } from '../shared/protocol/messages.js';
import { EVENTS } from '../shared/protocol/events.js';
import { encodeWeights } from '../shared/protocol/weights-codec.js';
import { SecAggClientMessageSchema } from '../shared/secagg/messages.js';

const BIN = fileURLToPath(new URL('../bin/fedserve.js', import.meta.url));
const JOIN_TOKEN = 'fuzz-join-token';
const ADMIN_TOKEN = 'fuzz-admin-token';
const HOSTILE_SOCKETS = 4;
/** Actions in flight at once: below the coordinator's concurrent-prediction limit, so a 503 is a finding. */
const LANES = 4;

export interface FuzzOptions {
  /** Fuzz cases (generated actions) to run. */
  count: number;
  seed?: number;
  /** Progress lines. */
  log?: (line: string) => void;
}

export interface FuzzSummary {
  cases: number;
  crashes: number;
  fiveXX: number;
  nonJson4xx: number;
  /** Requests or acknowledgements that never came back. */
  hangs: number;
  roundsCommitted: number;
  rssStartMiB: number;
  rssEndMiB: number;
  /** The first few findings, with the case that caused them. */
  findings: string[];
}

export function summaryLine(s: FuzzSummary): string {
  return (
    `fuzz: cases=${s.cases} crashes=${s.crashes} 5xx=${s.fiveXX} non_json_4xx=${s.nonJson4xx} hangs=${s.hangs} ` +
    `rounds_committed=${s.roundsCommitted} rss_start=${s.rssStartMiB.toFixed(0)}MiB rss_end=${s.rssEndMiB.toFixed(0)}MiB`
  );
}

// ---------- what fast-check generates ----------

const hostileNumber = fc.oneof(
  fc.constantFrom(
    Number.NaN,
    Infinity,
    -Infinity,
    1e308,
    -1e308,
    3.5e38,
    -3.5e38,
    Number.MAX_SAFE_INTEGER,
    2 ** 53 + 2,
    -1,
    0,
    -0,
    1e-320,
    1e9 + 1,
  ),
  fc.double(),
  fc.integer(),
  fc.integer({ min: 0, max: 5 }),
);
const hostileKey = fc.oneof(
  fc.string({ maxLength: 8 }),
  fc.constantFrom(
    '__proto__',
    'constructor',
    'prototype',
    'toString',
    'hasOwnProperty',
    'round',
    'numExamples',
    'metrics',
    'loss',
    'accuracy',
    'trainMs',
    'evalMs',
    'type',
    'clipIndicator',
    'x_input',
    'instances',
    'inputs',
    'signature_name',
    'rounds',
    'token',
    'name',
  ),
);
const hostileValue: fc.Arbitrary<unknown> = fc.letrec<{ v: unknown }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', maxDepth: 4 },
    hostileNumber,
    fc.string({ maxLength: 24 }),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('v'), { maxLength: 6 }),
    fc.dictionary(hostileKey, tie('v'), { maxKeys: 5 }),
  ),
})).v;

/** An array nested `depth` levels around `inner`, built without recursion. */
function nested(depth: number, inner: unknown): unknown {
  let v = inner;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

const updateMeta = fc.record(
  {
    round: fc.oneof(hostileNumber, fc.integer({ min: 1, max: 50 })),
    numExamples: hostileNumber,
    metrics: fc.oneof(fc.record({ loss: hostileNumber, accuracy: hostileNumber }), hostileValue),
    trainMs: hostileNumber,
    clipIndicator: hostileNumber,
    extra: hostileValue,
  },
  { requiredKeys: [] },
);

function binaryArb(parameterCount: number): fc.Arbitrary<unknown> {
  // Full-size vectors are few: they cost the most to send and to check.
  return fc.oneof(
    { weight: 10, arbitrary: fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)) },
    { weight: 10, arbitrary: fc.integer({ min: 0, max: 4096 }).map((n) => new ArrayBuffer(n)) },
    { weight: 1, arbitrary: fc.constantFrom(-1, 1).map((d) => new ArrayBuffer((parameterCount + d) * 4)) },
    { weight: 1, arbitrary: hostileNumber.map((v) => encodeWeights(new Float32Array(parameterCount).fill(v))) },
    { weight: 1, arbitrary: fc.constant(Buffer.alloc(4 * parameterCount + 1)) },
  );
}

/** Objects with the keys of each secure-aggregation client message, read from its public schema, holding hostile values. */
function secAggArb(): fc.Arbitrary<unknown> {
  const options =
    (SecAggClientMessageSchema as unknown as { options?: { shape?: Record<string, { value?: unknown }> }[] }).options ??
    [];
  const shaped = options
    .filter((o) => o.shape)
    .map((o) => {
      const entries = Object.entries(o.shape!).map(
        ([k, field]) =>
          [
            k,
            k === 'type' && typeof field.value === 'string'
              ? fc.oneof(fc.constant(field.value), hostileValue)
              : fc.oneof(hostileValue, binaryArb(8)),
          ] as const,
      );
      return fc.record(Object.fromEntries(entries), { requiredKeys: [] });
    });
  return shaped.length > 0 ? fc.oneof(hostileValue, ...shaped) : hostileValue;
}

type Action =
  | { kind: 'event'; socket: number; event: string; args: unknown[]; ack: boolean }
  | { kind: 'raw'; socket: number; packet: string }
  | { kind: 'handshake'; auth: unknown }
  | { kind: 'rest'; method: string; path: string; headers: Record<string, string>; body: string | Buffer | undefined };

const REST_PATHS = [
  '/v1/rounds',
  '/v1/health',
  '/metrics',
  '/v1/models/mnist',
  '/v1/models/mnist/versions/0',
  '/v1/models/mnist/versions/99999999999999999999',
  '/v1/models/mnist/metadata',
  '/v1/models/mnist:predict',
  '/v1/models/mnist/versions/0:predict',
  '/v1/models/mnist/versions/-1:predict',
  '/v1/models/mnist/model.json',
  '/v1/models/mnist/versions/0/model.json',
  '/v1/models/mnist/versions/0/weights.bin',
  '/v1/models/other:predict',
  '/v1/models/mnist/labels',
  '/v1/models/mnist/labels/stable',
  '/v1/models/mnist/labels/stable:predict',
  '/v1/models/mnist/labels/stable/metadata',
  '/v1/models/mnist/labels/Bad%20Label',
  '/v1/models/%E0%A4%A',
  '/predict',
  '/',
  '/client',
  '/web/app.js',
  '/web/../../etc/passwd',
  '/web/tfjs-wasm/tfjs-backend-wasm.wasm',
  '/web/data/mnist/0/4',
  '/web/data/mnist/5/4',
  '/web/data/mnist/0/99999',
  '/socket.io/?EIO=4&transport=polling',
];

function predictBody(): fc.Arbitrary<string | Buffer> {
  const instance = fc.oneof(
    fc.constant(Array.from({ length: 784 }, (_, i) => (i % 10) / 10)),
    fc.array(hostileNumber, { maxLength: 8 }),
    hostileValue,
  );
  const value = fc.oneof(
    fc.record({ instances: fc.array(instance, { maxLength: 3 }) }),
    fc.record({
      inputs: fc.oneof(fc.array(instance, { maxLength: 3 }), fc.dictionary(hostileKey, instance, { maxKeys: 2 })),
    }),
    fc.record({ x_input: instance }),
    fc.record({ signature_name: hostileValue, instances: hostileValue }),
    hostileValue,
  );
  return fc.oneof(
    { weight: 6, arbitrary: value.map((v) => JSON.stringify(v) ?? 'undefined') },
    // JSON.stringify cannot write these: numbers out of float32 range, raw NaN, deep nesting, broken text.
    {
      weight: 1,
      arbitrary: fc.constantFrom('3.5e38', '-1e39', '1e400', 'NaN', 'Infinity').map((v) => `{"instances": [[${v}]]}`),
    },
    {
      weight: 1,
      arbitrary: fc.integer({ min: 1, max: 20_000 }).map((d) => `{"instances": [${'['.repeat(d)}0.5${']'.repeat(d)}]}`),
    },
    {
      weight: 1,
      arbitrary: fc.integer({ min: 1, max: 20_000 }).map((d) => `{"x_input": ${'{"a":'.repeat(d)}1${'}'.repeat(d)}}`),
    },
    { weight: 1, arbitrary: fc.string({ maxLength: 64 }) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)) },
    { weight: 1, arbitrary: fc.constant(`{"instances": [${'0,'.repeat(10)}0]}`) },
  );
}

function actionArb(parameterCount: number): fc.Arbitrary<Action> {
  const socket = fc.integer({ min: 0, max: HOSTILE_SOCKETS - 1 });
  const eventArgs = fc.oneof(
    fc.tuple(updateMeta, binaryArb(parameterCount)).map((a) => [...a]),
    fc.array(fc.oneof(hostileValue, binaryArb(parameterCount)), { maxLength: 4 }),
    fc.integer({ min: 1, max: 3000 }).map((d) => [nested(d, 1)]),
  );
  const event = fc.oneof(
    fc.record({
      kind: fc.constant('event' as const),
      socket,
      event: fc.constant(EVENTS.update),
      args: eventArgs,
      ack: fc.boolean(),
    }),
    fc.record({
      kind: fc.constant('event' as const),
      socket,
      event: fc.constant(EVENTS.evaluation),
      args: fc.oneof(
        fc
          .tuple(
            fc.record(
              {
                round: hostileNumber,
                metrics: fc.oneof(
                  fc.constant(null),
                  fc.record({ loss: hostileNumber, accuracy: hostileNumber, numExamples: hostileNumber }),
                ),
                evalMs: hostileNumber,
              },
              { requiredKeys: [] },
            ),
          )
          .map((a) => [...a]),
        eventArgs,
      ),
      ack: fc.boolean(),
    }),
    fc.record({
      kind: fc.constant('event' as const),
      socket,
      event: fc.constant(EVENTS.secagg),
      args: fc.oneof(
        secAggArb().map((m) => [m]),
        secAggArb().map((m) => [envelopeOrRaw(m)]),
        eventArgs,
      ),
      ack: fc.boolean(),
    }),
    fc.record({
      kind: fc.constant('event' as const),
      socket,
      event: fc.oneof(
        fc.string({ minLength: 1, maxLength: 12 }),
        fc.constantFrom('train', 'welcome', 'refused', 'round-closed', 'evaluate', '__proto__', 'constructor'),
      ),
      args: eventArgs,
      ack: fc.boolean(),
    }),
  );
  const raw = fc.record({
    kind: fc.constant('raw' as const),
    socket,
    packet: fc.oneof(
      fc.string({ maxLength: 40 }).map((s) => `4${s}`),
      fc.string({ maxLength: 40 }).map((s) => `42["update",${s}`),
      fc.constantFrom(
        '451-["update",{"_placeholder":true,"num":7}]',
        '452-["update",{"_placeholder":true,"num":0}]',
        '42["update"',
        '2',
        '41',
        '40{"token":1}',
      ),
      fc.integer({ min: 1, max: 50_000 }).map((d) => `42["update",${'['.repeat(d)}${']'.repeat(d)}]`),
    ),
  });
  const handshake = fc.record({
    kind: fc.constant('handshake' as const),
    auth: fc.oneof(
      hostileValue,
      fc.record(
        {
          token: fc.oneof(fc.constant(JOIN_TOKEN), hostileValue),
          protocolVersion: fc.oneof(fc.constant(PROTOCOL_VERSION), hostileNumber),
          name: hostileValue,
          canEvaluate: hostileValue,
          identityKey: hostileValue,
        },
        { requiredKeys: [] },
      ),
    ),
  });
  const rest = fc.record({
    kind: fc.constant('rest' as const),
    method: fc.constantFrom('GET', 'GET', 'POST', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH'),
    path: fc.oneof(
      { weight: 6, arbitrary: fc.constantFrom(...REST_PATHS) },
      { weight: 1, arbitrary: fc.string({ maxLength: 30 }).map((s) => `/${encodeURI(s)}`) },
      {
        weight: 1,
        arbitrary: fc
          .tuple(fc.constantFrom(...REST_PATHS), fc.string({ maxLength: 10 }))
          .map(([p, s]) => p + encodeURIComponent(s)),
      },
    ),
    headers: fc.record(
      {
        authorization: fc.oneof(
          fc.constant(`Bearer ${ADMIN_TOKEN}`),
          fc.string({ maxLength: 20 }).map((s) => s.replace(/[^\x20-\x7e]/g, '')),
        ),
        'content-type': fc.constantFrom('application/json', 'text/plain', 'application/octet-stream'),
      },
      { requiredKeys: [] },
    ),
    body: fc.oneof(
      { weight: 10, arbitrary: fc.constant(undefined) },
      { weight: 20, arbitrary: predictBody() },
      { weight: 5, arbitrary: fc.record({ rounds: hostileNumber }).map((v) => JSON.stringify(v)) },
      {
        weight: 3,
        arbitrary: fc.record({ version: fc.oneof(fc.constant(0), hostileNumber) }).map((v) => JSON.stringify(v)),
      },
      { weight: 1, arbitrary: fc.constant(Buffer.alloc(8 * 1024 * 1024 + 10, 0x20)) },
    ),
  });
  return fc.oneof(
    { weight: 8, arbitrary: event },
    { weight: 1, arbitrary: raw },
    { weight: 1, arbitrary: handshake },
    { weight: 6, arbitrary: rest },
  );
}

function describeAction(a: Action): string {
  let text: string;
  try {
    text = JSON.stringify(a, (_k, v: unknown) =>
      v instanceof ArrayBuffer
        ? `<ArrayBuffer ${v.byteLength}>`
        : Buffer.isBuffer(v)
          ? `<bytes ${v.length}>`
          : typeof v === 'number' && !Number.isFinite(v)
            ? String(v)
            : v,
    );
  } catch {
    // Nesting deeper than JSON.stringify's recursion allows.
    text = `${a.kind} ${'event' in a ? a.event : ''} (too deeply nested to print)`;
  }
  return text.length > 300 ? `${text.slice(0, 300)}...` : text;
}

// ---------- the coordinator and its clients ----------

interface Coordinator {
  child: ChildProcess;
  url: string;
  output: () => string;
  exited: Promise<number | null>;
}

async function startCoordinator(dataDir: string): Promise<Coordinator> {
  const configPath = join(dataDir, 'fuzz-config.json');
  await writeFile(
    configPath,
    JSON.stringify({
      port: 0,
      host: '127.0.0.1',
      dataDir: join(dataDir, 'data'),
      joinToken: JOIN_TOKEN,
      adminToken: ADMIN_TOKEN,
      rounds: { start: 100_000, minResults: 2, selectionWindowMs: 0, trainingTimeoutMs: 1_500 },
      strategy: { sampler: { minClients: 2 } },
    }),
  );
  const child = spawn(process.execPath, [BIN, 'server', '--config', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const onData = (c: Buffer) => {
      text += c.toString();
      // Keep only the tail: the log grows with every refused message.
      if (text.length > 200_000) text = text.slice(-100_000);
      const m = /listening on (http:\/\/[^\s"]+)/.exec(text);
      if (m) resolve(m[1]);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    void exited.then((code) => reject(new Error(`the coordinator exited (${code}) before listening:\n${text}`)));
  });
  return { child, url, output: () => text, exited };
}

function rssMiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

/** secagg messages travel as envelopes: wrap a case so it reaches the schema check, unless JSON cannot hold it. */
function envelopeOrRaw(message: unknown): unknown {
  try {
    return encodeEnvelope(message);
  } catch {
    return message;
  }
}

/** An honest participant: answers every training task with a small valid update. */
function honestClient(url: string, name: string, parameterCount: number): Socket {
  const socket = io(url, {
    auth: { token: JOIN_TOKEN, protocolVersion: PROTOCOL_VERSION, name },
    transports: ['websocket'],
    reconnectionDelay: 100,
    reconnectionDelayMax: 500,
  });
  const delta = encodeWeights(new Float32Array(parameterCount).fill(1e-4));
  socket.on(EVENTS.train, (envelope: unknown) => {
    const task = decodeEnvelope(envelope) as TrainTask;
    socket.emit(
      EVENTS.update,
      { round: task.round, numExamples: 10, metrics: { loss: 1, accuracy: 0.5 }, trainMs: 1 },
      delta,
      () => undefined,
    );
  });
  return socket;
}

function hostileSocket(url: string, i: number): Socket {
  return io(url, {
    auth: { token: JOIN_TOKEN, protocolVersion: PROTOCOL_VERSION, name: `hostile-${i}` },
    transports: ['websocket'],
    reconnectionDelay: 50,
    reconnectionDelayMax: 200,
  });
}

interface HttpAnswer {
  status: number;
  contentType: string;
  body: Buffer;
}

const ignore = () => undefined;

function httpRequest(agent: Agent, url: string, a: Extract<Action, { kind: 'rest' }>): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    // An explicit length: Node sends a GET or DELETE body unframed, which would garble the next request on the connection.
    const headers =
      a.body === undefined ? a.headers : { ...a.headers, 'content-length': String(Buffer.byteLength(a.body)) };
    const req = request(`${url}${a.path}`, { method: a.method, headers, agent, timeout: 60_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          contentType: res.headers['content-type'] ?? '',
          body: Buffer.concat(chunks),
        }),
      );
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    // A refused upload (413, Connection: close) ends the connection under the rest of the body: EPIPE, not a finding.
    req.on('socket', (socket) => {
      if (!socket.listeners('error').includes(ignore)) socket.on('error', ignore);
    });
    req.end(a.body);
  });
}

function isJsonError(body: Buffer): boolean {
  try {
    const parsed = JSON.parse(body.toString('utf8')) as unknown;
    return typeof parsed === 'object' && parsed !== null && typeof (parsed as { error?: unknown }).error === 'string';
  } catch {
    return false;
  }
}

export async function runFuzz(options: FuzzOptions): Promise<FuzzSummary> {
  const log = options.log ?? (() => undefined);
  const seed = options.seed ?? Date.now() % 2 ** 31;
  const dir = await mkdtemp(join(tmpdir(), 'fedserve-fuzz-'));
  const coordinator = await startCoordinator(dir);
  const summary: FuzzSummary = {
    cases: 0,
    crashes: 0,
    fiveXX: 0,
    nonJson4xx: 0,
    hangs: 0,
    roundsCommitted: 0,
    rssStartMiB: 0,
    rssEndMiB: 0,
    findings: [],
  };
  const finding = (what: string, a: Action) => {
    if (summary.findings.length < 10) summary.findings.push(`${what}: ${describeAction(a)}`);
  };
  let crashed = false;
  let stopping = false;
  void coordinator.exited.then((code) => {
    if (stopping) return;
    crashed = true;
    summary.crashes++;
    summary.findings.push(`the coordinator exited with ${code}:\n${coordinator.output().slice(-4000)}`);
  });
  const agent = new Agent({ keepAlive: true, maxSockets: LANES });
  const sockets: Socket[] = [];
  try {
    const health = await fetch(`${coordinator.url}/v1/models/mnist/metadata`).then(
      (r) => r.json() as Promise<{ fedserve: { parameters: number } }>,
    );
    const parameterCount = health.fedserve.parameters;
    log(
      `fuzz: seed ${seed}, coordinator pid ${coordinator.child.pid} at ${coordinator.url}, ${parameterCount} parameters`,
    );
    sockets.push(
      honestClient(coordinator.url, 'honest-0', parameterCount),
      honestClient(coordinator.url, 'honest-1', parameterCount),
    );
    const hostile = Array.from({ length: HOSTILE_SOCKETS }, (_, i) => hostileSocket(coordinator.url, i));
    sockets.push(...hostile);
    const versionNow = async () =>
      ((await fetch(`${coordinator.url}/v1/health`).then((r) => r.json())) as { version: number }).version;
    // Warm: the web bundle is built (on first request), a demo shard encoded, and the first honest
    // round committed before the start RSS is taken.
    await fetch(`${coordinator.url}/client`).then((r) => r.arrayBuffer());
    await fetch(`${coordinator.url}/web/data/mnist/0/4`).then((r) => r.arrayBuffer());
    for (let i = 0; i < 200 && (await versionNow()) < 1; i++) await new Promise((r) => setTimeout(r, 100));
    const startVersion = await versionNow();
    summary.rssStartMiB = rssMiB(coordinator.child.pid!);

    /** The socket if connected; one the coordinator closed is reconnected for later cases. */
    const connected = (s: Socket): Socket | undefined => {
      if (s.connected) return s;
      if (!s.active) s.connect();
      return undefined;
    };
    const run = async (a: Action): Promise<void> => {
      switch (a.kind) {
        case 'rest': {
          let answer: HttpAnswer;
          try {
            answer = await httpRequest(agent, coordinator.url, a);
          } catch (e) {
            // The server may close a connection it refuses (413 with Connection: close); only a silent one is a hang.
            if ((e as Error).message === 'timed out') {
              summary.hangs++;
              finding('no HTTP answer in 60 s', a);
            }
            return;
          }
          if (answer.status >= 500) {
            summary.fiveXX++;
            finding(`HTTP ${answer.status} ${answer.body.toString('utf8').slice(0, 200)}`, a);
          } else if (
            answer.status >= 400 &&
            a.method !== 'HEAD' &&
            !a.path.startsWith('/socket.io/') &&
            !isJsonError(answer.body)
          ) {
            summary.nonJson4xx++;
            finding(
              `HTTP ${answer.status} without a JSON error (${answer.contentType}): ${answer.body.toString('utf8').slice(0, 120)}`,
              a,
            );
          }
          return;
        }
        case 'event': {
          const s = connected(hostile[a.socket]);
          if (!s) return;
          try {
            if (!a.ack) return void s.emit(a.event, ...a.args);
            const outcome = await new Promise<'answered' | 'timeout' | 'disconnected'>((resolve) => {
              const gone = () => resolve('disconnected');
              s.once('disconnect', gone);
              s.timeout(60_000).emit(a.event, ...a.args, (err: Error | null) => {
                s.off('disconnect', gone);
                resolve(err ? 'timeout' : 'answered');
              });
            });
            // Being disconnected for a hostile message is a fine answer; a live connection that never answers is a hang.
            if (outcome === 'timeout') {
              summary.hangs++;
              finding('no acknowledgement in 60 s', a);
            }
          } catch {
            // The client library refuses some values itself (reserved event names, unserializable args).
          }
          return;
        }
        case 'raw': {
          const s = connected(hostile[a.socket]);
          if (s) s.io.engine.write(a.packet);
          return;
        }
        case 'handshake': {
          const s = io(coordinator.url, {
            auth: a.auth as Record<string, unknown>,
            transports: ['websocket'],
            reconnection: false,
            forceNew: true,
            timeout: 20_000,
          });
          // Accepted, refused, or the connection closed (a handshake that is not even an object): all fine.
          await new Promise<void>((resolve) => {
            s.once('connect', () => resolve());
            s.once('connect_error', () => resolve());
            s.io.once('close', () => resolve());
          });
          s.disconnect();
          return;
        }
        default: {
          const never: never = a;
          throw new Error(`unknown action ${JSON.stringify(never)}`);
        }
      }
    };

    const arb = actionArb(parameterCount);
    const BATCH = 500;
    for (let done = 0, batch = 0; done < options.count && !crashed; batch++) {
      const actions = fc.sample(arb, { numRuns: Math.min(BATCH, options.count - done), seed: seed + batch });
      let next = 0;
      await Promise.all(
        Array.from({ length: LANES }, async () => {
          while (next < actions.length && !crashed) {
            const a = actions[next++];
            await run(a);
            summary.cases++;
          }
        }),
      );
      done += actions.length;
      if (batch % 4 === 3) log(`fuzz: ${done} cases, coordinator RSS ${rssMiB(coordinator.child.pid!).toFixed(0)} MiB`);
    }
    if (!crashed) {
      // Honest rounds still commit after all that.
      const before = await versionNow();
      for (let i = 0; i < 200 && (await versionNow()) <= before; i++) await new Promise((r) => setTimeout(r, 100));
      summary.roundsCommitted = (await versionNow()) - startVersion;
      summary.rssEndMiB = rssMiB(coordinator.child.pid!);
    }
  } finally {
    for (const s of sockets) s.disconnect();
    agent.destroy();
    if (!crashed) {
      stopping = true;
      coordinator.child.kill('SIGTERM');
      await coordinator.exited;
    }
    await rm(dir, { recursive: true, force: true });
  }
  return summary;
}
