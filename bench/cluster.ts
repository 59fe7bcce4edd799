/**
 * A 3-node cluster (real `fedserve server --cluster` processes on one real redis-server and one data
 * dir) against a single coordinator process, in live plaintext FedAvg rounds of n clients on the
 * 7,850-parameter softmax regression. The clients are real NodeClients over socket.io, hosted in
 * child processes (bench/live/client-host.ts, one per node), with a stand-in trainer, so what is
 * measured is the coordinators, the transport and Redis. Each mode runs one unreported warm-up
 * round, then `--rounds` measured rounds, each once all n clients are connected.
 *
 *   npm run bench:cluster                          # n = 300, 900; 3 rounds each
 *   npm run bench:cluster -- --clients 1500 --rounds 2
 *   npm run bench:cluster -- --secure --clients 300 # SecAgg+ rounds (the clients' masks are real)
 *   npm run bench:cluster -- --modes cluster        # the cluster rows only
 *   npm run bench:cluster -- --secure --phase-timeout 30000   # more time per SecAgg+ stage
 *   npm run bench:cluster -- --aggregator median   # a robust aggregator: every update reaches the leader
 *
 * Per row: clients per round (contributors), median round time (the round record's duration,
 * selection to commit), and bytes the round's leader received per round: a single coordinator
 * receives every client's update (fedserve_update_bytes_total), the cluster's leader one partial
 * per other node (fedserve_cluster_leader_bytes_received_total: a mean and a header of counts and
 * sums each; its own clients' partial reaches it in process); "in updates" divides by one update's
 * size (7,850 float32). Leader changes: how often the lease changed hands in the cluster run.
 * With --secure both modes run secure aggregation: a single coordinator's update bytes are the
 * masked inputs; the cluster leader's bus bytes are the other nodes' masked-input sums (one per
 * node) and their clients' other SecAgg+ messages, forwarded one by one (keys, shares, signatures,
 * reveals), while the leader's own clients talk to it directly.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setupBackend } from '../shared/engine/backend.js';
import { contributorCount } from '../shared/protocol/rounds.js';
import { startRedis, freePort, type TestRedis } from '../test/helpers/redis-server.js';
import { ClientHost } from './live/hosts.js';
import { writeSoftmaxRegression } from './live/small-model.js';

const { values: flags } = parseArgs({
  options: {
    clients: { type: 'string', default: '300,900' },
    rounds: { type: 'string', default: '3' },
    secure: { type: 'boolean', default: false },
    modes: { type: 'string', default: 'single,cluster' },
    'phase-timeout': { type: 'string', default: '10000' },
    /** The strategy's aggregator kind, with its defaults (the config's `strategy.aggregator`). */
    aggregator: { type: 'string', default: 'weighted-mean' },
  },
});
/** Secure aggregation's phase timeout (ms): on a loaded machine 300 clients' key stages may need more than the default. */
const PHASE_TIMEOUT_MS = positiveInt(flags['phase-timeout'], 'phase-timeout');
const MODES = flags.modes.split(',').map((m) => {
  if (m !== 'single' && m !== 'cluster') throw new Error(`--modes takes single and/or cluster, got '${m}'`);
  return m;
});
const SECURE = flags.secure;
const SIZES = flags.clients.split(',').map((s) => positiveInt(s.trim(), 'clients'));
const ROUNDS = positiveInt(flags.rounds, 'rounds');
const NODES = 3;
const JOIN = 'bench-cluster-join-token';
const ADMIN = 'bench-cluster-admin-token';
const BIN = fileURLToPath(new URL('../bin/fedserve.js', import.meta.url));
const UPDATE_BYTES = 7_850 * 4;

function positiveInt(text: string, what: string): number {
  const v = Number(text);
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${what} must be a positive integer, got '${text}'`);
  return v;
}

interface Node {
  url: string;
  child: ChildProcess;
  output: () => string;
}

async function startNode(args: string[]): Promise<Node> {
  const port = await freePort();
  const child = spawn(process.execPath, [BIN, 'server', '--port', String(port), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  const onData = (chunk: Buffer) => (text = (text + chunk.toString('utf8')).slice(-20_000));
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    `node on ${url}`,
    async () => (await fetch(`${url}/v1/health`)).ok || undefined,
    60_000,
    () => text,
  );
  return { url, child, output: () => text };
}

async function stopNode(node: Node): Promise<void> {
  if (node.child.exitCode !== null || node.child.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => node.child.once('exit', () => resolve()));
  node.child.kill('SIGTERM');
  await gone;
}

async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
  tail = () => '',
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}\n${tail()}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

interface Round {
  round: number;
  status: string;
  reason?: string;
  secureAggregation?: { stageMs: Record<string, number> };
  durationMs: number;
  contributions: unknown[];
  /** Cluster plaintext rounds: contributors counted per node. */
  nodes?: { contributors: number }[];
}

async function closedRounds(url: string): Promise<Round[]> {
  const res = await fetch(`${url}/v1/rounds`, { headers: { authorization: `Bearer ${ADMIN}` } });
  const body = (await res.json()) as { rounds: Round[] };
  return body.rounds.filter((r) => r.status === 'committed' || r.status === 'failed');
}

async function runRounds(queueOn: string, leader: string, n: number): Promise<Round[]> {
  const before = (await closedRounds(leader)).length;
  const res = await fetch(`${queueOn}/v1/rounds`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ rounds: n }),
  });
  if (res.status !== 202) throw new Error(`POST /v1/rounds answered ${res.status}`);
  return waitFor(
    `${n} round(s) to close`,
    async () => {
      const all = await closedRounds(leader);
      return all.length >= before + n ? all.slice(before) : undefined;
    },
    600_000,
  );
}

interface Row {
  mode: string;
  /** Times the lease changed hands during the run (cluster only). */
  leaderChanges: number;
  clients: number;
  perRound: number;
  roundS: number;
  leaderBytes: number;
  outcome: string;
}

async function measure(mode: 'single' | 'cluster', clients: number, model: string, hosts: ClientHost[]): Promise<Row> {
  const dir = await mkdtemp(join(tmpdir(), 'fedserve-bench-cluster-'));
  let redis: TestRedis | undefined;
  const nodes: Node[] = [];
  try {
    const common = [
      '--data-dir',
      join(dir, 'data'),
      '--model',
      model,
      '--join-token',
      JOIN,
      '--admin-token',
      ADMIN,
      '--min-clients',
      String(clients),
      '--max-clients',
      String(clients),
      '--selection-window',
      '0',
      '--round-timeout',
      '300000',
      '--log-level',
      'warn',
      '--secure-aggregation',
      SECURE ? 'on' : 'off',
    ];
    const config = join(dir, 'config.json');
    const secureAggregation = { phaseTimeoutMs: PHASE_TIMEOUT_MS };
    const strategy = { aggregator: { kind: flags.aggregator } };
    if (mode === 'cluster') {
      redis = await startRedis();
      await writeFile(
        config,
        JSON.stringify({
          cluster: { redis: redis.url, leaseMs: 10_000, heartbeatMs: 1_000 },
          secureAggregation,
          strategy,
        }),
      );
      nodes.push(await startNode([...common, '--config', config, '--node-id', 'n1']));
      for (let i = 2; i <= NODES; i++)
        nodes.push(await startNode([...common, '--config', config, '--node-id', `n${i}`]));
    } else {
      await writeFile(config, JSON.stringify({ secureAggregation, strategy }));
      nodes.push(await startNode([...common, '--config', config]));
    }
    const leader = nodes[0].url;
    // Clients spread over the nodes (all on the one coordinator in single mode), one host per node.
    await Promise.all(
      hosts.map((host, h) =>
        host.request({
          kind: 'connect',
          url: nodes[h % nodes.length].url,
          token: JOIN,
          clients: Array.from({ length: clients }, (_, i) => i)
            .filter((i) => i % hosts.length === h)
            .map((index) => ({ name: `c${index}`, index })),
          secure: SECURE,
          inputShape: [28, 28, 1],
          numClasses: 10,
          seed: 1,
        }),
      ),
    );
    await waitFor(
      `${clients} clients to connect`,
      async () => {
        const counts = await Promise.all(
          nodes.map(
            async (n) =>
              ((await (await fetch(`${n.url}/v1/health`)).json()) as { connectedClients: number }).connectedClients,
          ),
        );
        return counts.reduce((a, b) => a + b, 0) >= clients || undefined;
      },
      300_000,
    );
    const bytesMetric =
      mode === 'cluster' ? 'fedserve_cluster_leader_bytes_received_total' : 'fedserve_update_bytes_total';
    // The node leading now (the lease may have moved during the connection burst): its counter is the leader's.
    const leading = async (): Promise<string> => {
      if (mode !== 'cluster') return leader;
      const view = (await (await fetch(`${leader}/v1/cluster`)).json()) as { leader: string | null };
      return nodes[Number(view.leader?.slice(1) ?? 1) - 1].url;
    };
    await runRounds(nodes[nodes.length - 1].url, leader, 1);
    const leaderBefore = await leading();
    const bytesBefore = await metric(leaderBefore, bytesMetric);
    const rounds = await runRounds(nodes[nodes.length - 1].url, leader, ROUNDS);
    const leaderAfter = await leading();
    // Bytes over a leader change would mix two nodes' counters: not reported.
    const bytesAfter = leaderAfter === leaderBefore ? await metric(leaderAfter, bytesMetric) : Number.NaN;
    const committed = rounds.filter((r) => r.status === 'committed').length;
    for (const r of rounds)
      console.error(
        `round ${r.round} ${r.status}${r.reason ? `: ${r.reason}` : ''}${r.secureAggregation ? ` (stage ms ${JSON.stringify(r.secureAggregation.stageMs)})` : ''}`,
      );
    if (committed < ROUNDS) console.error(`--- leader (last lines) ---\n${nodes[0].output().slice(-4_000)}`);
    const token =
      mode === 'cluster'
        ? ((await (await fetch(`${leader}/v1/cluster`)).json()) as { fencingToken: number | null }).fencingToken
        : null;
    // Why the lease moved, as the nodes logged it (a leader that stalled past its lease says how late it was).
    if (token !== null && token > 1)
      for (const node of nodes)
        for (const line of node.output().split('\n')) if (/no longer leads/.test(line)) console.error(line);
    const durations = rounds.map((r) => r.durationMs).sort((a, b) => a - b);
    await Promise.all(hosts.map((h) => h.request({ kind: 'disconnect' })));
    return {
      mode: `${mode === 'cluster' ? `cluster (${NODES} nodes)` : 'single coordinator'}${SECURE ? ', secure' : ''}${flags.aggregator !== 'weighted-mean' ? `, ${flags.aggregator}` : ''}`,
      leaderChanges: token === null ? 0 : token - 1,
      clients,
      perRound: Math.round(rounds.reduce((s, r) => s + contributorCount(r), 0) / rounds.length),
      roundS: durations[durations.length >> 1] / 1000,
      leaderBytes: (bytesAfter - bytesBefore) / ROUNDS,
      outcome: committed === ROUNDS ? 'committed' : `${committed}/${ROUNDS} committed`,
    };
  } catch (e) {
    for (const [i, node] of nodes.entries())
      console.error(`--- node ${i + 1} (last lines) ---\n${node.output().slice(-4_000)}`);
    throw e;
  } finally {
    await Promise.all(nodes.map(stopNode));
    await redis?.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

await setupBackend('cpu', { log: () => undefined });
const modelDir = await mkdtemp(join(tmpdir(), 'fedserve-bench-model-'));
const model = await writeSoftmaxRegression(modelDir);
const hosts = await Promise.all(Array.from({ length: NODES }, () => ClientHost.start()));
const rows: Row[] = [];
try {
  for (const n of SIZES)
    for (const mode of MODES) {
      const row = await measure(mode, n, model, hosts);
      console.error(`measured: ${JSON.stringify(row)}`);
      rows.push(row);
    }
} finally {
  await Promise.all(hosts.map((h) => h.exit()));
  await rm(modelDir, { recursive: true, force: true });
}
console.log(
  `\n${ROUNDS} measured round(s) per row after a warm-up round; one update = ${UPDATE_BYTES} bytes (float32)\n`,
);
console.log(
  '| mode | clients | clients per round | round s (median) | bytes to the leader per round | in updates | leader changes | outcome |',
);
console.log('|---|---|---|---|---|---|---|---|');
for (const r of rows)
  console.log(
    `| ${r.mode} | ${r.clients} | ${r.perRound} | ${r.roundS.toFixed(2)} | ${Number.isNaN(r.leaderBytes) ? 'n/a (leader changed)' : Math.round(r.leaderBytes).toLocaleString('en')} | ${Number.isNaN(r.leaderBytes) ? 'n/a' : (r.leaderBytes / UPDATE_BYTES).toFixed(1)} | ${r.leaderChanges} | ${r.outcome} |`,
  );
