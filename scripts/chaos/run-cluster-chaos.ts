/**
 * Cluster chaos run: three real `fedserve server --cluster` processes on one real redis-server and
 * one data dir, six light Node clients (two per node; a stand-in trainer that takes 300-800 ms), rounds
 * queued without end, and the leader SIGKILLed again and again at a random moment, then restarted on
 * the same port (as a follower; its clients reconnect to it). After every kill it checks:
 * - another node takes the lease, with a larger fencing token;
 * - a round commits again (the takeover and the next commit are timed from the kill);
 * - every round seen committed (API or disk) is still committed, by one version, with its record in
 *   rounds.jsonl, and versions' fencing tokens never go back as versions go up.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NodeClient } from '../../client/node-client.js';
import { shard } from '../../shared/data/dataset.js';
import { loadMnist } from '../../shared/data/mnist.node.js';
import { seededRng } from '../../shared/random.js';
import { silentLogger } from '../../server/logger.js';
import { CheckpointStore } from '../../server/store/checkpoint-store.js';
import { syntheticTrainer } from '../../bench/live/synthetic-trainer.js';
import { writeSoftmaxRegression } from '../../bench/live/small-model.js';
import { freePort, startRedis } from '../../test/helpers/redis-server.js';

export interface ClusterChaosOptions {
  kills: number;
  seed: number;
  /** Upper bound of the random kill moment after the cluster committed again. */
  maxDelayMs: number;
  log: (line: string) => void;
}

export interface ClusterChaosSummary {
  kills: number;
  roundsCommitted: number;
  /** Rounds seen committed that were later missing, or committed by two versions. */
  lostRounds: number;
  doubleCommits: number;
  lostRecords: number;
  /** Versions whose fencing token is below an older version's. */
  tokenRegressions: number;
  /** Kill -> another node holds the lease, and kill -> the next round committed (ms). */
  takeoverMs: number[];
  nextCommitMs: number[];
}

const BIN = fileURLToPath(new URL('../../bin/fedserve.js', import.meta.url));
const JOIN = 'chaos-cluster-join';
const ADMIN = 'chaos-cluster-admin';
const LEASE_MS = 2_000;
const NODES = 3;

interface Node {
  id: string;
  port: number;
  child: ChildProcess;
  output: () => string;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function startNode(id: string, port: number, args: string[]): Promise<Node> {
  const child = spawn(process.execPath, [BIN, 'server', '--node-id', id, '--port', String(port), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      text = (text + chunk.toString('utf8')).slice(-20_000);
      if (/listening on http:\/\/127\.0\.0\.1:\d+/.test(text)) resolve({ id, port, child, output: () => text });
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => reject(new Error(`node ${id} exited (${code}) before listening:\n${text}`)));
  });
}

async function kill(node: Node, signal: NodeJS.Signals): Promise<void> {
  if (node.child.exitCode !== null || node.child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => node.child.once('exit', () => resolve()));
  node.child.kill(signal);
  await exited;
}

async function get<T>(port: number, path: string): Promise<T | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { headers: { authorization: `Bearer ${ADMIN}` } });
    return res.ok ? ((await res.json()) as T) : undefined;
  } catch {
    return undefined;
  }
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

interface ClusterView {
  leader: string | null;
  fencingToken: number | null;
}

/** Committed rounds on disk: round -> versions that committed it, and each version's fencing token. */
async function disk(dataDir: string): Promise<{ byRound: Map<number, number[]>; tokens: [number, number][] }> {
  const store = new CheckpointStore(dataDir, { logger: silentLogger() });
  const byRound = new Map<number, number[]>();
  const tokens: [number, number][] = [];
  for (const version of await store.versions()) {
    if (version === 0) continue;
    const cp = await store.load(version);
    byRound.set(cp.round, [...(byRound.get(cp.round) ?? []), version]);
    const by = cp.state?.committedBy as { token?: number } | undefined;
    tokens.push([version, by?.token ?? 0]);
  }
  return { byRound, tokens };
}

export async function runClusterChaos(options: ClusterChaosOptions): Promise<ClusterChaosSummary> {
  const { log } = options;
  const rng = seededRng(options.seed);
  const dir = await mkdtemp(join(tmpdir(), 'fedserve-cluster-chaos-'));
  const redis = await startRedis();
  const dataDir = join(dir, 'data');
  const config = join(dir, 'cluster.json');
  const model = await writeSoftmaxRegression(dir);
  await writeFile(
    config,
    JSON.stringify({ model, cluster: { redis: redis.url, leaseMs: LEASE_MS, heartbeatMs: 250 } }),
  );
  const args = [
    '--config',
    config,
    '--data-dir',
    dataDir,
    '--join-token',
    JOIN,
    '--admin-token',
    ADMIN,
    '--min-clients',
    '2',
    '--selection-window',
    '200',
    '--round-timeout',
    '10000',
  ];
  const ports = await Promise.all(Array.from({ length: NODES }, () => freePort()));
  const nodes: Node[] = [];
  const clients: { client: NodeClient; done: Promise<void> }[] = [];
  const summary: ClusterChaosSummary = {
    kills: 0,
    roundsCommitted: 0,
    lostRounds: 0,
    doubleCommits: 0,
    lostRecords: 0,
    tokenRegressions: 0,
    takeoverMs: [],
    nextCommitMs: [],
  };
  const seen = new Set<number>();
  const lost = new Set<number>();
  try {
    nodes.push(await startNode('n1', ports[0], args));
    for (let i = 1; i < NODES; i++) nodes.push(await startNode(`n${i + 1}`, ports[i], args));
    const train = loadMnist().train;
    for (let i = 0; i < NODES * 2; i++) {
      const base = syntheticTrainer(i, options.seed);
      const client = new NodeClient({
        server: `http://127.0.0.1:${ports[i % NODES]}`,
        token: JOIN,
        name: `c${i}`,
        data: shard(train, i, 80),
        progress: { line: () => undefined, step: () => undefined, end: () => undefined },
        reconnectDelayMs: 200,
        reconnectDelayMaxMs: 500,
        trainer: async (job) => {
          await sleep(300 + Math.floor(rng() * 500));
          return base(job);
        },
      });
      const done = client.run();
      done.catch(() => undefined);
      clients.push({ client, done });
    }
    const queued = await fetch(`http://127.0.0.1:${ports[1]}/v1/rounds`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ rounds: 10_000 }),
    });
    if (queued.status !== 202) throw new Error(`POST /v1/rounds answered ${queued.status}: ${await queued.text()}`);
    const committedCount = async (port: number) =>
      (await get<{ rounds: { status: string }[] }>(port, '/v1/rounds'))?.rounds.filter((r) => r.status === 'committed')
        .length;
    for (let k = 0; k < options.kills; k++) {
      const view = await until(
        'a leader',
        async () => {
          const v = await get<ClusterView>(ports[k % NODES], '/v1/cluster');
          return v?.leader ? v : undefined;
        },
        30_000,
      );
      const leader = nodes.find((n) => n.id === view.leader)!;
      const before = (await committedCount(leader.port)) ?? 0;
      await until(
        'a round to commit before the kill',
        async () => {
          const n = await committedCount(leader.port);
          return n !== undefined && n > before ? true : undefined;
        },
        60_000,
      );
      await sleep(Math.floor(rng() * options.maxDelayMs));
      const other = nodes.find((n) => n !== leader)!;
      const committedBefore = (await committedCount(other.port)) ?? 0;
      const killedAt = Date.now();
      await kill(leader, 'SIGKILL');
      summary.kills++;
      const next = await until(
        'another node to lead',
        async () => {
          const v = await get<ClusterView>(other.port, '/v1/cluster');
          return v?.leader && v.leader !== leader.id ? v : undefined;
        },
        60_000,
      );
      summary.takeoverMs.push(Date.now() - killedAt);
      if ((next.fencingToken ?? 0) <= (view.fencingToken ?? 0)) summary.tokenRegressions++;
      const newLeader = nodes.find((n) => n.id === next.leader)!;
      await until(
        'the next commit',
        async () => {
          const n = await committedCount(newLeader.port);
          return n !== undefined && n > committedBefore ? true : undefined;
        },
        60_000,
      );
      summary.nextCommitMs.push(Date.now() - killedAt);
      // The killed node comes back as a follower on its port; its clients reconnect to it.
      nodes[nodes.indexOf(leader)] = await startNode(leader.id, leader.port, args);
      const { byRound, tokens } = await disk(dataDir);
      for (const [round, versions] of byRound) {
        seen.add(round);
        if (versions.length > 1) summary.doubleCommits++;
      }
      for (const round of seen) if (!byRound.has(round)) lost.add(round);
      summary.lostRounds = lost.size;
      for (let i = 1; i < tokens.length; i++) if (tokens[i][1] < tokens[i - 1][1]) summary.tokenRegressions++;
      log(
        `kill ${k + 1}: ${leader.id} (token ${view.fencingToken}) -> ${next.leader} (token ${next.fencingToken}), ` +
          `takeover ${summary.takeoverMs.at(-1)} ms, next commit ${summary.nextCommitMs.at(-1)} ms, ${byRound.size} rounds on disk`,
      );
    }
    const { byRound } = await disk(dataDir);
    const logged = (await readFile(join(dataDir, 'rounds.jsonl'), 'utf8'))
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as { round: number; status: string })
      .filter((r) => r.status === 'committed')
      .map((r) => r.round);
    for (const round of byRound.keys()) if (!logged.includes(round)) summary.lostRecords++;
    summary.roundsCommitted = byRound.size;
    return summary;
  } catch (e) {
    for (const node of nodes) log(`--- ${node.id} (last lines) ---\n${node.output().slice(-3_000)}`);
    throw e;
  } finally {
    for (const c of clients) c.client.stop();
    await Promise.all(clients.map((c) => c.done.catch(() => undefined)));
    await Promise.all(nodes.map((n) => kill(n, 'SIGKILL')));
    await redis.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

export function clusterSummaryLine(s: ClusterChaosSummary): string {
  return (
    `chaos --cluster: kills=${s.kills} lost_rounds=${s.lostRounds} double_commits=${s.doubleCommits} ` +
    `lost_records=${s.lostRecords} token_regressions=${s.tokenRegressions} rounds_committed=${s.roundsCommitted} ` +
    `takeover_ms_median=${median(s.takeoverMs)} takeover_ms_max=${Math.max(...s.takeoverMs)} ` +
    `next_commit_ms_median=${median(s.nextCommitMs)} next_commit_ms_max=${Math.max(...s.nextCommitMs)} (lease ${LEASE_MS} ms)`
  );
}
