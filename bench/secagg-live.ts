/**
 * Secure aggregation (SecAgg+) against plaintext FedAvg in live rounds: one real coordinator
 * (startCoordinator, the seed CNN, 121,930 parameters) in this process and n real NodeClients
 * over socket.io on 127.0.0.1, hosted in child processes. Clients skip tfjs training (a
 * synthetic trainer returns the global weights plus a small seeded random delta), so what is
 * measured is the protocol, the transport and the coordinator.
 *
 *   npm run bench:secagg:live                            # n = 10, 50, 100, 200; dropout 0 and 10%; 3 rounds per row
 *   npm run bench:secagg:live -- --clients 10,50 --rounds 1
 *   npm run bench:secagg:live -- --thousand              # 1,000 clients, 7,850-parameter softmax regression
 *
 * Each n runs a secure coordinator, then a plaintext one; the first of each mode starts with an
 * unreported warm-up round (JIT; the secure one also tells which messages a client sends).
 * Dropouts: round(10% of n) clients drawn with a seed disconnect during the round; in secure
 * rounds spread over the secure messages a client sends (rotating with the round), in plaintext
 * rounds before the upload. Each round starts once every client is connected. Per row:
 *  - wall s: median over the rounds of the round record's duration (selection to commit);
 *  - coord CPU s: median CPU time (user + system) of this process over the round: the coordinator;
 *  - client CPU s: median CPU time of the client processes over the round, per client. Here all
 *    n clients share the machine's cores, so the wall time is bound by their sum; on real devices
 *    they would run in parallel;
 *  - MB/client: bytes through the coordinator's TCP sockets over the round (WebSocket frames and
 *    all), per selected client, sent by clients / received by them;
 *  - outcome: committed, or how many committed and the first failure's reason.
 *
 * Profiling: the client hosts are forked with this process's Node flags, so
 *   node --cpu-prof --cpu-prof-dir=prof --import tsx bench/secagg-live.ts --clients 100 --rounds 1
 * writes one .cpuprofile for the coordinator and one per client host (--trace-gc works the same
 * way). Node refuses --cpu-prof in NODE_OPTIONS.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { setupBackend } from '../shared/engine/backend.js';
import { Federation, type FederationOptions, type MeasuredRound } from './live/federation.js';
import { ClientHost } from './live/hosts.js';
import { measureProtocolFloor } from './live/protocol-floor.js';
import { writeSoftmaxRegression } from './live/small-model.js';

const { values: flags } = parseArgs({
  options: {
    clients: { type: 'string', default: '10,50,100,200' },
    rounds: { type: 'string' },
    thousand: { type: 'boolean', default: false },
    hosts: { type: 'string', default: '2' },
    seed: { type: 'string', default: '1' },
    log: { type: 'boolean', default: false },
  },
});

function positiveInt(text: string, what: string, min = 1): number {
  const v = Number(text);
  if (!Number.isInteger(v) || v < min) throw new Error(`--${what} must be an integer >= ${min}, got '${text}'`);
  return v;
}

const THOUSAND = 1_000;
const SIZES = flags.thousand ? [THOUSAND] : flags.clients.split(',').map((s) => positiveInt(s.trim(), 'clients', 3));
const ROUNDS = positiveInt(flags.rounds ?? (flags.thousand ? '1' : '3'), 'rounds');
const HOSTS = positiveInt(flags.hosts, 'hosts');
const SEED = positiveInt(flags.seed, 'seed', 0);
const DROPS = flags.thousand ? [0] : [0, 0.1];

/** Coordinator log: echoed with --log, else its tail is shown when something fails. */
const logTail: string[] = [];
function log(line: string): void {
  if (flags.log) console.error(`[coordinator] ${line}`);
  logTail.push(line);
  if (logTail.length > 40) logTail.shift();
}

/** Socket.io needs a file descriptor per client on each side; refuse early, naming the fix, when they would run out. */
function checkOpenFiles(clients: number): void {
  const limit = execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim();
  const needed = clients + 256;
  if (limit !== 'unlimited' && Number(limit) < needed) {
    throw new Error(
      `${clients} clients need about ${needed} open files in this process, the limit is ${limit}: raise it first (ulimit -n ${needed * 2})`,
    );
  }
}

interface Summary {
  rounds: MeasuredRound[];
  wallS: number;
  cpuS: number;
  /** Median over the rounds of the client hosts' CPU seconds, per client. */
  clientCpuS: number;
  sentMB: number;
  recvMB: number;
  outcome: string;
  parameters: number;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
};
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

function summarize(n: number, rounds: MeasuredRound[], parameters: number): Summary {
  const committed = rounds.filter((r) => r.record.status === 'committed').length;
  const failed = rounds.find((r) => r.record.status !== 'committed');
  return {
    rounds,
    wallS: median(rounds.map((r) => r.record.durationMs / 1000)),
    cpuS: median(rounds.map((r) => r.coordinatorCpuS)),
    clientCpuS: median(rounds.map((r) => r.clientsCpuS / n)),
    sentMB: mean(rounds.map((r) => r.bytes.read / n / 1e6)),
    recvMB: mean(rounds.map((r) => r.bytes.written / n / 1e6)),
    outcome: failed
      ? `${committed}/${rounds.length} committed; ${failed.record.status}: ${failed.record.reason ?? 'no reason'}`
      : 'committed',
    parameters,
  };
}

/** Stages learnt by the first secure federation, for the dropouts of the later ones. */
let secureStages: readonly string[] | undefined;
/** Modes whose code this process has already run (a warm-up round is for the first federation of each). */
const warm = new Set<boolean>();

/** One coordinator (secure or not) with n clients: ROUNDS rounds per dropout rate, after a warm-up round the first time. */
async function measure(
  hosts: ClientHost[],
  o: Omit<FederationOptions, 'seed' | 'log' | 'stages'>,
  warmUp: boolean,
): Promise<Map<number, Summary>> {
  const federation = await Federation.start(hosts, {
    ...o,
    seed: SEED,
    log,
    ...(o.secure && secureStages ? { stages: secureStages } : {}),
  });
  try {
    if (warmUp && !warm.has(o.secure)) await federation.round(0);
    warm.add(o.secure);
    const out = new Map<number, Summary>();
    for (const drop of DROPS) {
      const rounds: MeasuredRound[] = [];
      for (let r = 0; r < ROUNDS; r++) rounds.push(await federation.round(drop));
      out.set(drop, summarize(o.clients, rounds, federation.parameters));
    }
    if (o.secure) secureStages = federation.stages;
    return out;
  } finally {
    await federation.close();
  }
}

const pct = (drop: number) => `${Math.round(drop * 100)}%`;
const s3 = (v: number) => v.toFixed(3);
const mb = (s: Summary) => `${s.sentMB.toFixed(3)} / ${s.recvMB.toFixed(3)}`;

/** Stage durations (ms) of a secure round as its record gives them, and the coordinator's aggregation. */
function stagesOf(r: MeasuredRound): string {
  const stages = Object.entries(r.record.secureAggregation?.stageMs ?? {}).map(
    ([stage, ms]) => `${stage} ${Math.round(ms)}`,
  );
  return [...stages, `aggregating ${Math.round(r.record.phaseMs.aggregating ?? 0)}`].join(', ');
}

/** Where the planned dropouts left, as the clients saw it (the record misses those the round no longer waited for). */
function plannedOf(r: MeasuredRound): string {
  const byStage = new Map<string, number>();
  for (const d of r.dropouts) byStage.set(d.stage, (byStage.get(d.stage) ?? 0) + 1);
  return [...byStage].map(([stage, count]) => `${stage} ${count}`).join(', ') || '-';
}

function dropoutsOf(r: MeasuredRound): string {
  const byStage = new Map<string, number>();
  for (const d of r.record.secureAggregation?.dropouts ?? []) byStage.set(d.stage, (byStage.get(d.stage) ?? 0) + 1);
  return [...byStage].map(([stage, count]) => `${stage} ${count}`).join(', ') || '-';
}

async function table(hosts: ClientHost[], backend: string): Promise<void> {
  // Generous: dropouts disconnect, so no stage waits for its deadline unless the machine falls behind.
  const TIMEOUTS = { phaseTimeoutMs: 60_000, trainingTimeoutMs: 300_000, connectTimeoutMs: 300_000 };
  console.log(
    `SecAgg+ vs plaintext FedAvg, live: coordinator + n NodeClients over socket.io on 127.0.0.1 (${HOSTS} client processes), ` +
      `seed CNN (121,930 parameters), coordinator on the ${backend} backend, Node ${process.versions.node}, median of ${ROUNDS} round(s) per row`,
  );
  const header = [
    'n',
    'drop',
    'k',
    't',
    'secure s',
    'plain s',
    'ratio',
    'secure coord CPU s',
    'plain coord CPU s',
    'secure client CPU s',
    'plain client CPU s',
    'secure MB/client sent / recv',
    'plain MB/client sent / recv',
    'secure outcome',
    'plain outcome',
  ];
  console.log(header.join(' | '));
  const stageLines: string[] = [];
  let goal: { n: number; secure: Summary; plain: Summary } | undefined;
  for (const n of SIZES) {
    const secure = await measure(hosts, { clients: n, secure: true, ...TIMEOUTS }, true);
    const plain = await measure(hosts, { clients: n, secure: false, ...TIMEOUTS }, true);
    for (const drop of DROPS) {
      const s = secure.get(drop)!;
      const p = plain.get(drop)!;
      const setup = s.rounds[0].record.secureAggregation;
      console.log(
        [
          n,
          pct(drop),
          setup?.k ?? '-',
          setup?.threshold ?? '-',
          s3(s.wallS),
          s3(p.wallS),
          (s.wallS / p.wallS).toFixed(2),
          s3(s.cpuS),
          s3(p.cpuS),
          s3(s.clientCpuS),
          s3(p.clientCpuS),
          mb(s),
          mb(p),
          s.outcome,
          p.outcome,
        ].join(' | '),
      );
      for (const r of s.rounds)
        stageLines.push(
          [n, pct(drop), r.record.round, r.record.contributions.length, stagesOf(r), plannedOf(r), dropoutsOf(r)].join(
            ' | ',
          ),
        );
      if (drop === 0.1 && (n === 100 || !goal || goal.n !== 100)) goal = { n, secure: s, plain: p };
    }
  }
  console.log('\nSecure rounds, stage by stage (ms, from the round records), and where the planned dropouts left:');
  console.log(
    ['n', 'drop', 'round', 'contributors', 'stages ms', 'clients left before sending', 'dropouts in the record'].join(
      ' | ',
    ),
  );
  for (const line of stageLines) console.log(line);
  if (goal) {
    await floorOf(goal.n, goal.secure, goal.plain);
    console.log(
      `secagg-live: n=${goal.n} drop=10% secure_s=${s3(goal.secure.wallS)} plain_s=${s3(goal.plain.wallS)} ratio=${(goal.secure.wallS / goal.plain.wallS).toFixed(2)}`,
    );
  }
}

/**
 * A lower bound on the secure round's wall time on this machine: the plaintext round's CPU (clients
 * and coordinator; a secure round moves as many words) plus the cryptography SecAgg+ cannot skip,
 * spread perfectly over every core. Counted conservatively: only the clients that contributed, each
 * with its share of live neighbours, and only the dropouts whose masks the coordinator rebuilt.
 */
async function floorOf(n: number, secure: Summary, plain: Summary): Promise<void> {
  const record = secure.rounds[0].record;
  const setup = record.secureAggregation!;
  const contributors = setup.survivors.length;
  const rebuilt = setup.dropouts.filter((d) => d.stage === 'masked-input').length;
  const floor = await measureProtocolFloor({
    n: contributors,
    k: Math.round((setup.k * contributors) / n),
    t: setup.threshold,
    m: secure.parameters,
    dropped: rebuilt,
  });
  const cores = availableParallelism();
  const cpuS = plain.cpuS + n * plain.clientCpuS + (contributors * floor.clientMs + floor.coordinatorMs) / 1000;
  const lowerS = cpuS / cores;
  const parts = (o: Record<string, number>) =>
    Object.entries(o)
      .map(([what, ms]) => `${what} ${ms.toFixed(2)}`)
      .join(', ');
  console.log(
    `\nFloor at n = ${n}, 10% dropout (round ${record.round}: ${contributors} contributors, ${rebuilt} dropouts' masks rebuilt), ` +
      `the protocol's cryptography alone, CPU ms: one client ${floor.clientMs.toFixed(2)} (${parts(floor.clientParts)}); ` +
      `the coordinator ${floor.coordinatorMs.toFixed(2)} (${parts(floor.coordinatorParts)}). ` +
      `With the plaintext round's ${s3(plain.cpuS + n * plain.clientCpuS)} CPU s, ${s3(cpuS)} CPU s over ${cores} cores ` +
      `(a bound only while nothing else runs here; 1-minute load average now ${loadavg()[0].toFixed(2)}):`,
  );
  console.log(
    `secagg-live floor: n=${n} drop=10% client_crypto_ms=${floor.clientMs.toFixed(2)} coord_crypto_ms=${floor.coordinatorMs.toFixed(1)} ` +
      `secure_s>=${s3(lowerS)} plain_s=${s3(plain.wallS)} ratio>=${(lowerS / plain.wallS).toFixed(2)}`,
  );
}

async function thousand(hosts: ClientHost[]): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'fedserve-bench-model-'));
  try {
    const model = await writeSoftmaxRegression(dir);
    // 500 clients per process on two cores take minutes to advertise: the advertise stage ends
    // 3 phase timeouts before the training deadline, leaving it 240 s here.
    const TIMEOUTS = { phaseTimeoutMs: 120_000, trainingTimeoutMs: 600_000, connectTimeoutMs: 600_000 };
    console.log(
      `${THOUSAND} live clients over socket.io on 127.0.0.1 (${HOSTS} client processes), softmax regression (7,850 parameters), ` +
        `Node ${process.versions.node}, ${ROUNDS} round(s) each, no warm-up`,
    );
    console.log(
      [
        'mode',
        'round',
        'k',
        't',
        'wall s',
        'coord CPU s',
        'client CPU s',
        'MB/client sent / recv',
        'contributors',
        'stages ms',
        'outcome',
      ].join(' | '),
    );
    for (const secure of [true, false]) {
      const summary = (await measure(hosts, { clients: THOUSAND, secure, model, ...TIMEOUTS }, false)).get(0)!;
      for (const r of summary.rounds) {
        const setup = r.record.secureAggregation;
        const outcome = r.record.status === 'committed' ? 'committed' : `${r.record.status}: ${r.record.reason}`;
        console.log(
          [
            secure ? 'secure' : 'plain',
            r.record.round,
            setup?.k ?? '-',
            setup?.threshold ?? '-',
            s3(r.record.durationMs / 1000),
            s3(r.coordinatorCpuS),
            s3(r.clientsCpuS / THOUSAND),
            `${(r.bytes.read / THOUSAND / 1e6).toFixed(3)} / ${(r.bytes.written / THOUSAND / 1e6).toFixed(3)}`,
            r.record.contributions.length,
            secure ? stagesOf(r) : `aggregating ${Math.round(r.record.phaseMs.aggregating ?? 0)}`,
            outcome,
          ].join(' | '),
        );
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

checkOpenFiles(Math.max(...SIZES));
// The backend a real coordinator picks (wasm here): its serving thread warms up every committed
// version during the next round, in both modes, and on the pure-JS cpu backend that took 0.6 s of CPU.
const backend = await setupBackend(undefined, { log: () => undefined });
// Quiets tfjs's advice to install tfjs-node: these processes never train.
tf.env().set('PROD', true);
const hosts = await Promise.all(Array.from({ length: HOSTS }, () => ClientHost.start()));
try {
  await (flags.thousand ? thousand(hosts) : table(hosts, backend));
} catch (e) {
  console.error(
    `bench:secagg:live failed: ${(e as Error).message}\ncoordinator log, last lines:\n${logTail.join('\n')}`,
  );
  process.exitCode = 1;
} finally {
  await Promise.all(hosts.map((h) => h.exit()));
}
