import { renameSync, writeFileSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { io, type Socket } from 'socket.io-client';
import { describe, expect, it } from 'vitest';
import { startCoordinator, type RunningCoordinator } from '../../server/app.js';
import { parseCoordinatorConfig, type CoordinatorConfigInput } from '../../server/config.js';
import { PrivacyJournal } from '../../server/privacy-journal.js';
import { parsePrivacyConfig } from '../../shared/privacy/config.js';
import { PoissonSampler } from '../../shared/privacy/poisson-sampler.js';
import { computeEpsilon, computeRdp, rdpToEpsilon } from '../../shared/privacy/rdp.js';
import { decodeEnvelope } from '../../shared/protocol/envelope.js';
import { PROTOCOL_VERSION, type EvaluateTask, type TrainTask, type Ack } from '../../shared/protocol/messages.js';
import { EVENTS } from '../../shared/protocol/events.js';
import { PublicRoundListSchema } from '../../shared/protocol/public-rounds.js';
import type { RoundRecord } from '../../shared/protocol/rounds.js';
import { encodeWeights } from '../../shared/protocol/weights-codec.js';
import { ADMIN_TOKEN, JOIN_TOKEN, nextRounds, tempDir, coordinatorSuite } from '../e2e/helpers.js';
import { lineLogger, silentLogger } from '../../server/logger.js';

/**
 * Every Poisson draw is charged when it is taken and made durable before anything derived from the
 * round leaves the coordinator, on a live coordinator over socket.io on 127.0.0.1: an empty draw
 * and a draw below minResults cost what a committed round costs, a charge the journal cannot take
 * stops the round before evaluators (or anyone) see its model, a restart never reports less, and in
 * distributed mode the coordinator's own account is charged as soon as an update reaches it.
 */

const DELTA = 1e-5;
const cleanup = coordinatorSuite();

async function start(
  dataDir: string,
  overrides: Partial<CoordinatorConfigInput>,
  seed?: number,
): Promise<RunningCoordinator & { logs: string[] }> {
  const logs: string[] = [];
  const config = parseCoordinatorConfig(
    { port: 0, host: '127.0.0.1', dataDir, joinToken: JOIN_TOKEN, adminToken: ADMIN_TOKEN, ...overrides },
    'test',
  );
  const running = await startCoordinator(config, {
    logger: lineLogger((line) => logs.push(line)),
    ...(seed !== undefined ? { privacySamplingSeed: seed } : {}),
  });
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await running.close();
  };
  cleanup.push(close);
  return Object.assign(running, { logs, close });
}

interface RawClient {
  trained: number[];
  evaluated: number[];
}

/**
 * A client on a raw socket: answers every training task with a zero update (unless `answer` is
 * false), and every evaluation request with fixed metrics after `onEvaluate` looked at it.
 */
function rawClient(
  server: RunningCoordinator,
  name: string,
  opts: {
    answer?: boolean;
    canEvaluate?: boolean;
    onTrain?: (task: TrainTask) => Promise<void>;
    onEvaluate?: (task: EvaluateTask) => void;
  } = {},
): RawClient {
  const socket: Socket = io(server.url, {
    auth: {
      token: JOIN_TOKEN,
      protocolVersion: PROTOCOL_VERSION,
      name,
      ...(opts.canEvaluate ? { canEvaluate: true } : {}),
    },
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
  });
  cleanup.push(async () => {
    socket.disconnect();
  });
  const state: RawClient = { trained: [], evaluated: [] };
  const n = server.coordinator.task.info.parameterCount;
  socket.on(EVENTS.train, (envelope: unknown) => {
    const task = decodeEnvelope(envelope) as TrainTask;
    state.trained.push(task.round);
    if (opts.answer === false) return;
    void (async () => {
      await opts.onTrain?.(task);
      const meta = { round: task.round, numExamples: 10, metrics: { loss: 1, accuracy: 0.5 }, trainMs: 1 };
      (await socket.timeout(10_000).emitWithAck(EVENTS.update, meta, encodeWeights(new Float32Array(n)))) as Ack;
    })();
  });
  socket.on(EVENTS.evaluate, (task: EvaluateTask) => {
    state.evaluated.push(task.round);
    opts.onEvaluate?.(task);
    socket.emit(EVENTS.evaluation, {
      round: task.round,
      metrics: { loss: 1, accuracy: 0.5, numExamples: 10 },
      evalMs: 1,
    });
  });
  return state;
}

const central = { mode: 'central', noiseMultiplier: 1, clipNorm: 1, delta: DELTA, targetEpsilon: 1e6 } as const;

describe('every Poisson draw is charged as it is taken', () => {
  it('an empty draw and a draw below minResults each cost what a committed round costs, and a restart finds every charge', async () => {
    const q = 0.5;
    const ids = ['a', 'b', 'c'];
    // The seed whose rounds 1-3 draw two or more clients, none, and one: commit, empty, too small.
    const sizes = (seed: number) =>
      [1, 2, 3].map((round) => new PoissonSampler({ rate: q, seed }).select(ids, round).length);
    let seed = 0;
    while (!(sizes(seed)[0] >= 2 && sizes(seed)[1] === 0 && sizes(seed)[2] === 1)) seed++;

    const dir = await tempDir();
    cleanup.push(dir.remove);
    const overrides = {
      rounds: { selectionWindowMs: 0, trainingTimeoutMs: 30_000, minResults: 2 },
      strategy: { sampler: { minClients: 3, fraction: q }, evaluation: { fraction: 0 } },
      privacy: central,
    };
    const server = await start(dir.path, overrides, seed);
    const clients = ids.map((id) => rawClient(server, id));
    const done = nextRounds(server, 3);
    server.coordinator.startRounds(3);
    const records = await done;

    expect(records.map((r) => r.status)).toEqual(['committed', 'failed', 'failed']);
    expect(records[1].reason).toMatch(/selected none of the 3 connected clients/);
    expect(records[2].reason).toMatch(/only 1 of 1 participants contributed, 2 needed/);
    expect(clients.map((c) => c.trained.filter((r) => r === 2))).toEqual([[], [], []]);
    const expected = [1, 2, 3].map((steps) => computeEpsilon({ q, noiseMultiplier: 1, steps, delta: DELTA }).epsilon);
    records.forEach((r, i) => expect(r.privacy!.epsilon).toBeCloseTo(expected[i], 10));
    const status = server.coordinator.privacyStatus()!;
    expect(status.rounds).toBe(3);
    expect(status.epsilon).toBeCloseTo(expected[2], 10);
    // Failed rounds report their charge publicly too; the per-audience account is public.
    const listed = PublicRoundListSchema.parse(await (await fetch(`${server.url}/v1/rounds`)).json());
    expect(listed.rounds.map((r) => (r.view === 'dp' ? r.privacy?.epsilon : undefined))).toEqual(
      records.map((r) => r.privacy!.epsilon),
    );
    expect(listed.privacy!.audiences.public).toBe(status.epsilon);
    expect(listed.privacy!.audiences.participationKnown.everyRound).toBeCloseTo(
      computeEpsilon({ q: 1, noiseMultiplier: 1, steps: 3, delta: DELTA }).epsilon,
      9,
    );

    // Rounds 2 and 3 left no checkpoint: their charges are in the journal, on disk before the round went on.
    const journal = new PrivacyJournal(join(dir.path, 'privacy-charges.jsonl'), silentLogger()).read();
    expect([...new Set(journal.map((c) => c.round))]).toEqual([1, 2, 3]);
    await server.close();
    const resumed = await start(dir.path, overrides, seed);
    expect(resumed.coordinator.privacyStatus()).toEqual(status);
  });

  it('the charge is on disk before evaluators get the candidate; one the journal cannot take fails the round before they see it, and a restart reports no less', async () => {
    const dir = await tempDir();
    cleanup.push(dir.remove);
    const journalPath = join(dir.path, 'privacy-charges.jsonl');
    const overrides = {
      rounds: { selectionWindowMs: 0, trainingTimeoutMs: 30_000, minResults: 2 },
      strategy: { sampler: { minClients: 3, fraction: 1 }, evaluation: { fraction: 1, minClients: 1 } },
      privacy: central,
    };
    const server = await start(dir.path, overrides);
    // What the journal held when the evaluator got each round's candidate.
    const onDiskAtEvaluation = new Map<number, number>();
    let breakJournal = false;
    const onTrain = async () => {
      if (!breakJournal) return;
      breakJournal = false;
      // The draw's charge is written; from now on the journal cannot take another one.
      await rename(journalPath, `${journalPath}.moved`);
      await mkdir(journalPath);
    };
    const trainers = [rawClient(server, 'a', { onTrain }), rawClient(server, 'b')];
    const evaluator = rawClient(server, 'c', {
      canEvaluate: true,
      onEvaluate: (task) => {
        const charge = new PrivacyJournal(journalPath, silentLogger())
          .read()
          .filter((c) => c.round === task.round)
          .at(-1);
        onDiskAtEvaluation.set(task.round, charge?.privacy.contributors ?? -1);
      },
    });

    const first = nextRounds(server, 1);
    server.coordinator.startRounds(1);
    const [committed] = await first;
    expect(committed.status).toBe('committed');
    expect(evaluator.evaluated).toEqual([1]);
    expect(onDiskAtEvaluation.get(1)).toBe(3);

    breakJournal = true;
    const second = nextRounds(server, 1);
    server.coordinator.startRounds(1);
    const [failed] = await second;
    expect(failed.status).toBe('failed');
    expect(failed.reason).toMatch(/aggregation failed: EISDIR/);
    expect(evaluator.evaluated).toEqual([1]);
    expect(server.coordinator.currentVersion).toBe(1);
    // What was reported is what is on disk: the draw's charge of round 2.
    const reported = server.coordinator.privacyStatus()!;
    expect(reported.rounds).toBe(2);
    expect(reported.epsilon).toBeCloseTo(
      computeEpsilon({ q: 1, noiseMultiplier: 1, steps: 2, delta: DELTA }).epsilon,
      10,
    );

    // A draw the journal cannot take: nothing is sent to anyone, nothing is charged.
    const third = nextRounds(server, 1);
    server.coordinator.startRounds(1);
    const [refused] = await third;
    expect(refused.status).toBe('failed');
    expect(refused.reason).toMatch(/could not draw the participants: EISDIR/);
    expect(refused.participants).toEqual([]);
    for (const c of [...trainers, evaluator]) expect(c.trained).not.toContain(3);
    expect(server.coordinator.privacyStatus()).toEqual(reported);

    await server.close();
    await rm(journalPath, { recursive: true });
    await rename(`${journalPath}.moved`, journalPath);
    const resumed = await start(dir.path, overrides);
    expect(resumed.coordinator.privacyStatus()!.epsilon).toBeGreaterThanOrEqual(reported.epsilon);
    expect(resumed.coordinator.privacyStatus()).toEqual(reported);
  });

  it('a round whose checkpoint cannot be saved fails, keeps its charge, and a restart reports the same epsilon', async () => {
    const dir = await tempDir();
    cleanup.push(dir.remove);
    const versions = join(dir.path, 'versions');
    const overrides = {
      rounds: { selectionWindowMs: 0, trainingTimeoutMs: 30_000, minResults: 2 },
      strategy: { sampler: { minClients: 3, fraction: 1 }, evaluation: { fraction: 1, minClients: 1 } },
      privacy: central,
    };
    const server = await start(dir.path, overrides);
    rawClient(server, 'a');
    rawClient(server, 'b');
    // While the evaluator scores the candidate, the versions dir is swapped for a file: the save must fail.
    rawClient(server, 'c', {
      canEvaluate: true,
      onEvaluate: () => {
        renameSync(versions, `${versions}.moved`);
        writeFileSync(versions, 'not a directory');
      },
    });
    const done = nextRounds(server, 1);
    server.coordinator.startRounds(1);
    const [record] = await done;
    expect(record.status).toBe('failed');
    expect(record.reason).toMatch(/aggregation failed: .*(ENOTDIR|EEXIST)/);
    const reported = server.coordinator.privacyStatus()!;
    expect(reported.epsilon).toBeCloseTo(
      computeEpsilon({ q: 1, noiseMultiplier: 1, steps: 1, delta: DELTA }).epsilon,
      10,
    );
    expect(record.privacy!.epsilon).toBe(reported.epsilon);

    await server.close();
    await rm(versions);
    await rename(`${versions}.moved`, versions);
    const resumed = await start(dir.path, overrides);
    expect(resumed.coordinator.currentVersion).toBe(0);
    expect(resumed.coordinator.privacyStatus()).toEqual(reported);
  });

  it('distributed mode: an update that reached the coordinator charges its account even when the round then fails', async () => {
    const dir = await tempDir();
    cleanup.push(dir.remove);
    const overrides = {
      rounds: { selectionWindowMs: 0, trainingTimeoutMs: 1_500, minResults: 2 },
      strategy: { sampler: { minClients: 2, fraction: 1 }, evaluation: { fraction: 0 } },
      privacy: { ...central, mode: 'distributed' as const },
    };
    const server = await start(dir.path, overrides);
    rawClient(server, 'a');
    rawClient(server, 'b', { answer: false });
    const done = nextRounds(server, 1);
    server.coordinator.startRounds(1);
    const [record]: RoundRecord[] = await done;
    expect(record.status).toBe('failed');
    expect(record.reason).toMatch(/only 1 of 2 participants contributed/);
    const { orders } = parsePrivacyConfig(overrides.privacy);
    // n = 2: the update carried noise z / sqrt(2), seen alone and knowing the client took part.
    const perUpdate = rdpToEpsilon(computeRdp(1, 1 / Math.SQRT2, 1, orders), orders, DELTA).epsilon;
    expect(record.privacy!.coordinatorEpsilon).toBeCloseTo(perUpdate, 9);
    const status = server.coordinator.privacyStatus()!;
    expect(status.coordinatorEpsilon).toBeCloseTo(perUpdate, 9);
    expect(status.audiences.coordinator).toBeCloseTo(perUpdate, 9);

    await server.close();
    const resumed = await start(dir.path, overrides);
    expect(resumed.coordinator.privacyStatus()!.coordinatorEpsilon).toBeCloseTo(perUpdate, 9);
  });
});
