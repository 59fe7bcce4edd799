/**
 * Secure aggregation (SecAgg+) against plain FedAvg, measured in the same run.
 *
 *   npm run bench:secagg                     # n in {10, 50, 100, 200}, m = 1e6, dropout 0/10/30%
 *   npm run bench:secagg -- --m 100000 --n 10,50 --repeat 1
 *
 * Clients that drop do so after sharing keys (before sending their masked input): the costliest
 * case for the coordinator, which must rebuild their pairwise masks. k and t are the defaults for
 * n (designed for 10% dropout); the 30% rows use the defaults designed for 30% dropout.
 * Client time is one client's own compute per round (clients run in parallel on their devices);
 * coordinator time is all of its work in the round; bytes are what one client sends. Times are
 * CPU time of this process (user + system), so other load on a shared machine does not inflate
 * them; each row runs both protocols `--repeat` times, interleaved, and keeps each minimum.
 */
import { WeightedMean } from '../shared/aggregation/weighted-mean.js';
import { DEFAULT_ASSUMPTIONS, wireBytes, type ActivePhase, type LocalUpdate } from '../shared/secagg/index.js';
import { seededRng, permutation } from '../shared/random.js';
import { clientIds, runSecAgg } from '../test/shared/secagg/driver.js';

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

const M = Number(option('m', '1000000'));
const SIZES = option('n', '10,50,100,200').split(',').map(Number);
const DROPOUTS = [0, 0.1, 0.3];
const REPEAT = Number(option('repeat', '3'));
const CLIP = 1;
const MAX_WEIGHT = 10_000;
/** Distinct synthetic updates, shared round-robin (more than fit in cache). */
const POOL = 16;

const rng = seededRng(42);
const pool = Array.from({ length: POOL }, () => Float32Array.from({ length: M }, () => (rng() * 2 - 1) * 0.1));
const updateOf = (index: number): LocalUpdate => ({
  delta: pool[index % POOL],
  numExamples: 100 + ((index * 37) % 900),
});

interface Row {
  n: number;
  drop: number;
  k: number;
  t: number;
  clientSecure: number;
  clientPlain: number;
  serverSecure: number;
  serverPlain: number;
  bytesSecure: number;
  bytesPlain: number;
  maxError: number;
  bound: number;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** CPU milliseconds consumed by this process so far. */
function cpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

/** Plain FedAvg: each client sends its float32 delta; the coordinator takes the weighted mean. */
function plainRound(survivors: number[]): { clientMs: number; serverMs: number; bytes: number; result: Float32Array } {
  const received: { clientId: string; delta: Float32Array; numExamples: number }[] = [];
  const clientMs: number[] = [];
  let bytes = 0;
  for (const i of survivors) {
    const u = updateOf(i);
    const start = cpuMs();
    const payload = new Uint8Array(u.delta.buffer.slice(0));
    const message = {
      round: 1,
      numExamples: u.numExamples,
      metrics: { loss: 0, accuracy: 0 },
      trainMs: 0,
      weights: payload,
    };
    clientMs.push(cpuMs() - start);
    bytes = wireBytes(message);
    received.push({
      clientId: String(i),
      delta: new Float32Array(message.weights.buffer),
      numExamples: message.numExamples,
    });
  }
  const start = cpuMs();
  const result = new WeightedMean().aggregate(received);
  return { clientMs: mean(clientMs), serverMs: cpuMs() - start, bytes, result };
}

async function measureOnce(n: number, drop: number): Promise<Row> {
  const ids = clientIds(n);
  const order = permutation(n, seededRng(n * 1000 + Math.round(drop * 100)));
  const dropped = Array.from(order.subarray(0, Math.round(drop * n)));
  const dropAt = new Map<string, ActivePhase>(dropped.map((i) => [ids[i], 'masked-input']));
  const survivors = ids.map((_, i) => i).filter((i) => !dropped.includes(i));
  const secure = await runSecAgg({
    clients: n,
    vectorLength: M,
    clip: CLIP,
    maxWeight: MAX_WEIGHT,
    update: (id) => updateOf(ids.indexOf(id)),
    dropAt,
    assumptions: { ...DEFAULT_ASSUMPTIONS, dropout: Math.max(DEFAULT_ASSUMPTIONS.dropout, drop) },
    clock: cpuMs,
  });
  if (secure.outcome.kind !== 'done') throw new Error(`n=${n} drop=${drop}: aborted: ${secure.outcome.reason}`);
  const plain = plainRound(survivors);
  const { mean: secureMean, errorBound } = secure.outcome.result;
  let maxError = 0;
  for (let i = 0; i < M; i++) maxError = Math.max(maxError, Math.abs(secureMean[i] - plain.result[i]));
  const live = survivors.map((i) => ids[i]);
  return {
    n,
    drop,
    k: secure.setup.k,
    t: secure.setup.threshold,
    clientSecure: mean(live.map((id) => secure.clientMs.get(id)!)),
    clientPlain: plain.clientMs,
    serverSecure: secure.serverMs,
    serverPlain: plain.serverMs,
    bytesSecure: mean(live.map((id) => secure.clientBytes.get(id)!)),
    bytesPlain: plain.bytes,
    maxError,
    bound: errorBound,
  };
}

async function measure(n: number, drop: number): Promise<Row> {
  const runs: Row[] = [];
  for (let r = 0; r < REPEAT; r++) runs.push(await measureOnce(n, drop));
  const least = (pick: (row: Row) => number) => Math.min(...runs.map(pick));
  return {
    ...runs[0],
    clientSecure: least((r) => r.clientSecure),
    clientPlain: least((r) => r.clientPlain),
    serverSecure: least((r) => r.serverSecure),
    serverPlain: least((r) => r.serverPlain),
    maxError: Math.max(...runs.map((r) => r.maxError)),
  };
}

// One unreported round first, so that JIT warm-up is not billed to the first row.
await measureOnce(10, 0);
const rows: Row[] = [];
console.log(
  `SecAgg+ vs plain FedAvg, m = ${M.toLocaleString('en-US')} parameters, Node ${process.versions.node}, best of ${REPEAT}`,
);
const header = [
  'n',
  'drop',
  'k',
  't',
  'client s',
  'plain client s',
  'client overhead s',
  'coord s',
  'plain coord s',
  'coord ratio',
  'MB/client',
  'plain MB/client',
  'max |err|',
  'bound',
];
console.log(header.join(' | '));
for (const n of SIZES) {
  for (const drop of DROPOUTS) {
    const r = await measure(n, drop);
    rows.push(r);
    console.log(
      [
        r.n,
        `${Math.round(r.drop * 100)}%`,
        r.k,
        r.t,
        (r.clientSecure / 1000).toFixed(3),
        (r.clientPlain / 1000).toFixed(3),
        ((r.clientSecure - r.clientPlain) / 1000).toFixed(3),
        (r.serverSecure / 1000).toFixed(3),
        (r.serverPlain / 1000).toFixed(3),
        (r.serverSecure / r.serverPlain).toFixed(2),
        (r.bytesSecure / 1e6).toFixed(3),
        (r.bytesPlain / 1e6).toFixed(3),
        r.maxError.toExponential(1),
        r.bound.toExponential(1),
      ].join(' | '),
    );
  }
}
const goal = rows.find((r) => r.n === 100 && r.drop === 0.1);
if (goal) {
  console.log(
    `secagg: n=100 drop=10% client_s=${((goal.clientSecure - goal.clientPlain) / 1000).toFixed(3)} server_ratio=${(goal.serverSecure / goal.serverPlain).toFixed(2)}`,
  );
}
