import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadMnist } from '../shared/data/mnist.node.js';
import type { RoundRecord } from '../shared/protocol/rounds.js';
import { startCoordinator } from '../server/app.js';
import { parseCoordinatorConfig } from '../server/config.js';
import { createLogger } from '../server/logger.js';
import { packageRoot } from '../server/web/bundle.js';

/** Found from the package root: this module runs from server/ in a checkout, from dist/server/ when installed. */
const BIN = join(packageRoot(), 'bin', 'fedserve.js');

export interface DemoOptions {
  clients: number;
  rounds: number;
  /** Forwarded to the client processes. */
  backend?: string;
  /** Keep the coordinator and client logs even when the demo succeeds (they are kept on failure). */
  keepLogs?: boolean;
  /** Central differential privacy with this noise multiplier (clip norm 1, delta 1e-5); off when absent. */
  dpNoise?: number;
  /** Training stops before a round would pass this epsilon (with dpNoise). */
  dpTargetEpsilon?: number;
  /** Secure aggregation (SecAgg+); on by default, which needs at least 3 clients. */
  secureAggregation?: boolean;
  out: (line: string) => void;
}

/** How a round's updates were combined: 'SecAgg+ k=3 t=2' (with its dropouts) or 'plaintext'. */
function aggregation(r: RoundRecord): string {
  const s = r.secureAggregation;
  if (!s) return 'plaintext';
  return `SecAgg+ k=${s.k} t=${s.threshold}${s.dropouts.length > 0 ? `, ${s.dropouts.length} dropped` : ''}`;
}

function row(cells: (string | number)[], widths: number[]): string {
  return cells.map((c, i) => String(c).padStart(widths[i])).join('  ');
}

/**
 * `fedserve demo`: a coordinator on a free port with 4 MNIST client processes (the 8,000 training
 * digits split between them, 2,000 held out on the coordinator), 5 rounds, a table per round,
 * then 5 held-out digits predicted through the served REST API. Resolves with the exit code.
 */
export async function runDemo(opts: DemoOptions): Promise<number> {
  const started = performance.now();
  const { out } = opts;
  const secure = opts.secureAggregation ?? opts.clients >= 3;
  if (secure && opts.clients < 3)
    throw new Error(`secure aggregation needs at least 3 clients, got --clients ${opts.clients}`);
  if (!secure && opts.secureAggregation === undefined)
    out(`secure aggregation off: it needs at least 3 clients, the demo runs ${opts.clients}`);
  const dir = await mkdtemp(join(tmpdir(), 'fedserve-demo-'));
  const coordinatorLog = createWriteStream(join(dir, 'coordinator.log'));
  const config = parseCoordinatorConfig(
    {
      port: 0,
      host: '127.0.0.1',
      dataDir: join(dir, 'data'),
      eval: 'mnist:test',
      // Deadlines only bound a stuck round: a stage closes as soon as every client answered. All the
      // client processes share this machine's cores, so training alone may take a minute under load.
      rounds: { selectionWindowMs: 0, trainingTimeoutMs: 150_000, minResults: Math.min(2, opts.clients) },
      // Under secure aggregation every round takes all the clients: the coordinator learns only their sum.
      // Its four stages after training take a second or two on one machine: 10 s each leaves 110 s to train.
      secureAggregation: { enabled: secure, phaseTimeoutMs: 10_000 },
      // Start once every client is connected, select all of them (with DP: each with probability 1).
      strategy: {
        sampler: {
          minClients: secure ? opts.clients : Math.min(2, opts.clients),
          minAvailable: opts.clients,
          ...(opts.dpNoise === undefined ? { maxClients: opts.clients } : {}),
        },
      },
      training: { epochs: 1, batchSize: 32, learningRate: 0.1, optimizer: 'sgd' },
      ...(opts.dpNoise !== undefined
        ? {
            privacy: {
              mode: 'central',
              noiseMultiplier: opts.dpNoise,
              clipNorm: 1,
              delta: 1e-5,
              targetEpsilon: opts.dpTargetEpsilon ?? 100,
            },
          }
        : {}),
    },
    'demo',
  );
  const server = await startCoordinator(config, {
    logger: createLogger({ format: 'pretty', isTTY: false, destination: coordinatorLog }),
  });
  const children: ChildProcess[] = [];
  const exited = new Set<ChildProcess>();
  let clientFailed: (error: Error) => void = () => undefined;
  const clientFailure = new Promise<never>((_, reject) => (clientFailed = reject));
  clientFailure.catch(() => undefined);
  let succeeded = false;
  try {
    out(`coordinator on ${server.url}; starting ${opts.clients} client processes on MNIST shards (logs in ${dir})`);
    for (let i = 0; i < opts.clients; i++) {
      const args = [
        BIN,
        'client',
        '--server',
        server.url,
        '--data',
        `mnist:${i}/${opts.clients}`,
        '--name',
        `client-${i}`,
        // Several client processes share this machine's cores already: no worker threads per client.
        '--threads',
        '1',
      ];
      if (opts.backend) args.push('--backend', opts.backend);
      const child = spawn(process.execPath, args, {
        env: { ...process.env, FEDSERVE_JOIN_TOKEN: server.joinToken },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const log = createWriteStream(join(dir, `client-${i}.log`));
      child.stdout.pipe(log);
      child.stderr.pipe(log);
      child.on('exit', (code, signal) => {
        exited.add(child);
        if (code !== 0 && signal !== 'SIGTERM') clientFailed(new Error(`client-${i} exited with ${code ?? signal}`));
      });
      children.push(child);
    }

    const dp = config.privacy !== undefined;
    const widths = [5, 7, 8, 17, 9, ...(dp ? [16] : []), 24];
    const records: RoundRecord[] = [];
    const allRounds = new Promise<void>((resolve) => {
      server.coordinator.on('round', (r) => {
        records.push(r);
        const accuracy = r.evaluation ? `${(r.evaluation.accuracy * 100).toFixed(1)}%` : '-';
        const status = r.status === 'committed' ? '' : `  FAILED: ${r.reason}`;
        const clients = `${r.contributions.length}/${r.participants.length}`;
        const epsilon = r.privacy ? [`${r.privacy.epsilon.toFixed(2)} (d=${r.privacy.delta})`] : dp ? ['-'] : [];
        out(
          row(
            [
              r.round,
              clients,
              r.numExamples,
              accuracy,
              `${(r.durationMs / 1000).toFixed(1)}s`,
              ...epsilon,
              aggregation(r),
            ],
            widths,
          ) + status,
        );
        if (records.length === opts.rounds) resolve();
        // The privacy budget stopped training before all rounds ran: the coordinator said why.
        else setImmediate(() => server.coordinator.pendingRounds() === 0 && resolve());
      });
    });
    const firstRound = server.coordinator.startRounds(opts.rounds);
    out(`running rounds ${firstRound}..${firstRound + opts.rounds - 1} once all ${opts.clients} clients have joined\n`);
    out(
      row(
        [
          'round',
          'clients',
          'examples',
          'held-out accuracy',
          'duration',
          ...(dp ? ['epsilon spent'] : []),
          'aggregation',
        ],
        widths,
      ),
    );
    await Promise.race([allRounds, clientFailure]);
    const exhausted = server.coordinator.privacyStatus()?.exhausted;
    if (exhausted && records.length < opts.rounds)
      out(`training stopped after ${records.length} round(s): ${exhausted}`);

    const { test } = loadMnist();
    const picks = [0, 1, 2, 3, 4];
    const instances = picks.map((k) =>
      Array.from({ length: 28 }, (_, r) => Array.from(test.x.subarray(k * 784 + r * 28, k * 784 + (r + 1) * 28))),
    );
    const res = await fetch(`${server.url}/v1/models/${config.task}:predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ instances }),
    });
    const body = (await res.json()) as { predictions?: number[][]; error?: string };
    if (!res.ok || !body.predictions)
      throw new Error(`predict failed with ${res.status}: ${body.error ?? 'no predictions'}`);
    out(
      `\nPOST /v1/models/${config.task}:predict with ${picks.length} held-out digits (model version ${server.coordinator.currentVersion}):`,
    );
    body.predictions.forEach((p, i) => {
      const predicted = p.indexOf(Math.max(...p));
      const truth = test.y[picks[i]];
      out(
        `  digit ${i + 1}: predicted ${predicted} (p=${p[predicted].toFixed(2)}), true ${truth}${predicted === truth ? '' : '  (wrong)'}`,
      );
    });
    const committed = records.filter((r) => r.status === 'committed').length;
    out(`\n${committed} of ${opts.rounds} rounds committed in ${((performance.now() - started) / 1000).toFixed(1)}s`);
    // With DP, rounds the budget did not allow count as planned, not as failures.
    succeeded = committed === records.length && (committed === opts.rounds || exhausted !== undefined);
    return succeeded ? 0 : 1;
  } catch (e) {
    out(`demo failed: ${(e as Error).message}; logs kept in ${dir}`);
    for (let i = 0; i < opts.clients; i++) {
      const text = await readFile(join(dir, `client-${i}.log`), 'utf8').catch(() => '');
      if (text) out(`--- client-${i} (last lines) ---\n${text.split('\n').slice(-8).join('\n')}`);
    }
    return 1;
  } finally {
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (exited.has(c)) {
              resolve();
              return;
            }
            c.once('exit', () => resolve());
            c.kill('SIGTERM');
          }),
      ),
    );
    await server.close();
    await new Promise<void>((resolve) => coordinatorLog.end(() => resolve()));
    if (succeeded && !opts.keepLogs) await rm(dir, { recursive: true, force: true });
  }
}
