/**
 * Chaos run: a real `fedserve server` process with differential privacy on, two real Node
 * clients training MNIST shards against it, and the coordinator SIGKILLed again and again (at a
 * random moment, or as soon as a checkpoint write begins), restarted each time on the same data
 * dir and port. After every restart it checks what must survive a crash:
 * - the served version is the newest complete version on disk, and it loads with tf.loadLayersModel;
 * - every round seen committed (over the API or on disk) is still committed, with its record in
 *   rounds.jsonl; round numbers never go back;
 * - the privacy ledger (epsilon spent) never decreases.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { watch } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { loadDataSpecSync } from '../../shared/data/data-spec.node.js';
import { NodeClient } from '../../client/node-client.js';
import { RoundListSchema, type RoundList } from '../../shared/protocol/rounds.js';
import { seededRng, type Rng } from '../../shared/random.js';
import { silentLogger } from '../../server/logger.js';
import { RoundLog } from '../../server/round-log.js';
import { CheckpointError, CheckpointStore } from '../../server/store/checkpoint-store.js';

export interface ChaosOptions {
  kills: number;
  seed: number;
  /** Upper bound of the random kill moment after the coordinator is up. */
  maxDelayMs: number;
  log: (line: string) => void;
}

export interface ChaosSummary {
  kills: number;
  /** Kills aimed at a checkpoint write, and how many left its temp dir behind (the write was cut). */
  killsAtWrite: number;
  cutWrites: number;
  roundsCommitted: number;
  lostRounds: number;
  lostRecords: number;
  corruptLoads: number;
  /** Restarts that served another version than the newest complete one on disk. */
  wrongServed: number;
  roundRegressions: number;
  ledgerMonotone: boolean;
  finalEpsilon: number;
  restartMs: number[];
}

const BIN = fileURLToPath(new URL('../../bin/fedserve.js', import.meta.url));
const JOIN_TOKEN = 'chaos-join';
const ADMIN_TOKEN = 'chaos-admin';
const MODEL = 'mnist';

interface Server {
  child: ChildProcess;
  output: () => string;
}

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as { port: number }).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

function startServer(args: string[]): Promise<Server> {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      text += chunk.toString('utf8');
      if (/listening on http:\/\/127\.0\.0\.1:\d+/.test(text)) resolve({ child, output: () => text });
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => reject(new Error(`coordinator exited (${code}) before listening:\n${text}`)));
  });
}

async function kill(server: Server): Promise<void> {
  if (server.child.exitCode !== null || server.child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => server.child.once('exit', () => resolve()));
  server.child.kill('SIGKILL');
  await exited;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves when the `nth` checkpoint write from now begins (its temp dir appears), or after `timeoutMs`. */
function checkpointWriteBegins(versionsDir: string, nth: number, timeoutMs: number): Promise<boolean> {
  const seen = new Set<string>();
  return new Promise((resolve) => {
    const watcher = watch(versionsDir, (_event, name) => {
      // A temp dir shows up twice (created, renamed away): count each once.
      if (name?.startsWith('.tmp-')) seen.add(name);
      if (seen.size >= nth) done(true);
    });
    const timer = setTimeout(() => done(false), timeoutMs);
    function done(began: boolean) {
      clearTimeout(timer);
      watcher.close();
      resolve(began);
    }
  });
}

/** What the data dir holds right after a kill: complete versions (verified) and their round records. */
async function diskState(
  dataDir: string,
): Promise<{ newest: number; committed: Map<number, number>; epsilon: number; corrupt: number; tempDirs: number }> {
  const store = new CheckpointStore(dataDir, { logger: silentLogger() });
  const names = await readdir(join(dataDir, 'versions'));
  const committed = new Map<number, number>();
  let newest = -1;
  let epsilon = 0;
  let corrupt = 0;
  for (const version of await store.versions()) {
    try {
      const cp = await store.load(version);
      newest = Math.max(newest, version);
      const privacy = (cp.metadata as { privacy?: { epsilon?: number } }).privacy;
      if (typeof privacy?.epsilon === 'number') epsilon = Math.max(epsilon, privacy.epsilon);
      if (version > 0) committed.set(cp.round, version);
    } catch (e) {
      if (!(e instanceof CheckpointError)) throw e;
      corrupt++;
    }
  }
  return { newest, committed, epsilon, corrupt, tempDirs: names.filter((n) => n.startsWith('.tmp-')).length };
}

export async function runChaos(options: ChaosOptions): Promise<ChaosSummary> {
  const { log } = options;
  const rng: Rng = seededRng(options.seed);
  const dataDir = await mkdtemp(join(tmpdir(), 'fedserve-chaos-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const configFile = join(dataDir, 'chaos-config.json');
  await writeFile(
    configFile,
    JSON.stringify({
      rounds: { selectionWindowMs: 0, trainingTimeoutMs: 30_000 },
      strategy: { sampler: { minClients: 2 }, evaluation: { fraction: 0 } },
      privacy: { mode: 'central', noiseMultiplier: 5, clipNorm: 1, delta: 1e-5, targetEpsilon: 1000 },
    }),
  );
  const args = [
    'server',
    '--config',
    configFile,
    '--port',
    String(port),
    '--host',
    '127.0.0.1',
    '--data-dir',
    join(dataDir, 'data'),
    '--join-token',
    JOIN_TOKEN,
    '--admin-token',
    ADMIN_TOKEN,
  ];
  const versionsDir = join(dataDir, 'data', 'versions');
  const summary: ChaosSummary = {
    kills: 0,
    killsAtWrite: 0,
    cutWrites: 0,
    roundsCommitted: 0,
    lostRounds: 0,
    lostRecords: 0,
    corruptLoads: 0,
    wrongServed: 0,
    roundRegressions: 0,
    ledgerMonotone: true,
    finalEpsilon: 0,
    restartMs: [],
  };
  /** Every round ever seen committed, with its version; the highest round number and epsilon seen. */
  const committed = new Map<number, number>();
  let maxRound = 0;
  let maxEpsilon = 0;

  const api = async <T>(path: string, init?: RequestInit): Promise<T> =>
    (await (await fetch(`${url}${path}`, init)).json()) as T;
  // The admin view: the public one leaves out per-client fields (and, with DP on, most of the record).
  const rounds = async (): Promise<RoundList> =>
    RoundListSchema.parse(await api('/v1/rounds', { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }));
  const queueRounds = () =>
    fetch(`${url}/v1/rounds`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ rounds: 10_000 }),
    });
  const observe = (list: RoundList) => {
    for (const r of list.rounds) {
      if (r.status === 'committed' && r.version !== undefined) committed.set(r.round, r.version);
    }
    const epsilon = list.privacy?.epsilon ?? 0;
    if (epsilon < maxEpsilon) summary.ledgerMonotone = false;
    maxEpsilon = Math.max(maxEpsilon, epsilon);
  };

  const clients = ['chaos-a', 'chaos-b'].map((name, i) => {
    const client = new NodeClient({
      server: url,
      token: JOIN_TOKEN,
      data: loadDataSpecSync(`mnist:${i}/60`),
      name,
      progress: { line: () => undefined, step: () => undefined, end: () => undefined },
      reconnectDelayMs: 100,
      reconnectDelayMaxMs: 500,
    });
    const done = client.run();
    done.catch(() => undefined);
    return { client, done };
  });

  let server = await startServer(args);
  try {
    await queueRounds();
    for (let k = 1; k <= options.kills; k++) {
      // Polls the API while the coordinator runs, so rounds committed before the kill are known.
      let polling = true;
      const poller = (async () => {
        while (polling) {
          try {
            observe(await rounds());
          } catch {
            // The coordinator is being killed; the check after the restart decides.
          }
          await sleep(150);
        }
      })();
      const atWrite = k % 2 === 1;
      if (atWrite) {
        summary.killsAtWrite++;
        // Lets a few rounds commit first; 0-3 ms after the write began cuts it at different steps.
        await checkpointWriteBegins(versionsDir, 1 + Math.floor(rng() * 3), 60_000);
        await sleep(Math.floor(rng() * 4));
      } else {
        await sleep(Math.floor(rng() * options.maxDelayMs));
      }
      await kill(server);
      summary.kills++;
      polling = false;
      await poller;

      const disk = await diskState(join(dataDir, 'data'));
      if (atWrite && disk.tempDirs > 0) summary.cutWrites++;
      summary.corruptLoads += disk.corrupt;
      for (const [round, version] of disk.committed) committed.set(round, version);
      maxEpsilon = Math.max(maxEpsilon, disk.epsilon);

      const started = Date.now();
      server = await startServer(args);
      summary.restartMs.push(Date.now() - started);
      const health = await api<{ version: number; nextRound: number }>('/v1/health');
      if (health.version !== disk.newest) {
        summary.wrongServed++;
        log(`kill ${k}: serving version ${health.version}, newest complete on disk is ${disk.newest}`);
      }
      const list = await rounds();
      const after = new Map(list.rounds.filter((r) => r.status === 'committed').map((r) => [r.round, r.version]));
      const logged = new Set(
        (await new RoundLog(join(dataDir, 'data', 'rounds.jsonl'), silentLogger()).read())
          .filter((r) => r.status === 'committed')
          .map((r) => r.round),
      );
      for (const [round, version] of committed) {
        if (after.get(round) !== version) {
          summary.lostRounds++;
          log(`kill ${k}: round ${round} (version ${version}) was committed and is gone`);
        }
        if (!logged.has(round)) {
          summary.lostRecords++;
          log(`kill ${k}: round ${round}'s record is not in rounds.jsonl`);
        }
      }
      const numbers = list.rounds.map((r) => r.round);
      const regressed = numbers.some((n, i) => i > 0 && n <= numbers[i - 1]) || health.nextRound <= maxRound;
      if (regressed) {
        summary.roundRegressions++;
        log(`kill ${k}: round numbers went back (next ${health.nextRound}, highest seen ${maxRound})`);
      }
      maxRound = Math.max(maxRound, ...numbers);
      const epsilon = list.privacy?.epsilon ?? 0;
      if (epsilon < maxEpsilon) {
        summary.ledgerMonotone = false;
        log(`kill ${k}: epsilon ${epsilon} after the restart, ${maxEpsilon} spent before`);
      }
      observe(list);
      if (!(await loadsServedModel(url))) {
        summary.corruptLoads++;
        log(`kill ${k}: the served model (version ${health.version}) does not load or predicts non-finite values`);
      }
      log(
        `kill ${k}/${options.kills} (${atWrite ? 'at a checkpoint write' : 'random moment'}): version ${health.version}, ${committed.size} rounds committed, epsilon ${epsilon.toFixed(3)}`,
      );
      await queueRounds();
    }
    summary.roundsCommitted = committed.size;
    summary.finalEpsilon = maxEpsilon;
    return summary;
  } finally {
    for (const c of clients) c.client.stop();
    await kill(server);
    await Promise.all(clients.map((c) => c.done.catch(() => undefined)));
    await rm(dataDir, { recursive: true, force: true });
  }
}

/** The served model loads with tf.loadLayersModel and predicts finite probabilities. */
async function loadsServedModel(url: string): Promise<boolean> {
  try {
    const model = await tf.loadLayersModel(tf.io.http(`${url}/v1/models/${MODEL}/model.json`, { fetchFunc: fetch }));
    const shape = model.inputs[0].shape.map((d) => d ?? 1);
    const out = tf.tidy(() => model.predict(tf.zeros(shape)) as tf.Tensor);
    const values = await out.data();
    out.dispose();
    model.dispose();
    return values.length > 0 && Array.from(values).every(Number.isFinite);
  } catch {
    return false;
  }
}

export function summaryLine(s: ChaosSummary): string {
  return (
    `chaos: kills=${s.kills} lost_rounds=${s.lostRounds} lost_records=${s.lostRecords} corrupt_loads=${s.corruptLoads} ` +
    `ledger_monotone=${s.ledgerMonotone} wrong_served=${s.wrongServed} round_regressions=${s.roundRegressions} ` +
    `kills_at_write=${s.killsAtWrite} cut_writes=${s.cutWrites} rounds_committed=${s.roundsCommitted}`
  );
}
