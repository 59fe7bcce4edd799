import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FractionSampler } from '../../shared/aggregation/fraction-sampler.js';
import { ServerSgd } from '../../shared/aggregation/server-sgd.js';
import { WeightedMean } from '../../shared/aggregation/weighted-mean.js';
import type { UpdateMeta } from '../../shared/protocol/messages.js';
import type { Task } from '../../shared/task.js';
import { Coordinator, type ClientLink, type LinkMessage } from '../../server/coordinator.js';
import { PlaintextProtocol } from '../../server/round/plaintext-protocol.js';
import { RoundLog } from '../../server/round-log.js';
import { CheckpointStore } from '../../server/store/checkpoint-store.js';
import { silentLogger } from '../../server/logger.js';
import { ManualClock } from './round/manual-clock.js';

class FakeLink implements ClientLink {
  readonly inbox: LinkMessage[] = [];
  closedWith: string | undefined;
  constructor(readonly id: string) {}
  send(message: LinkMessage): void {
    this.inbox.push(message);
  }
  close(reason: string): void {
    this.closedWith = reason;
  }
  events(): string[] {
    return this.inbox.map((m) => m.event);
  }
  lastTrainRound(): number | undefined {
    const train = this.inbox.filter((m) => m.event === 'train').pop();
    return train?.event === 'train' ? train.body.round : undefined;
  }
}

const DIM = 6;
const task: Task = {
  info: { name: 'toy', inputShape: [3], numClasses: 2, parameterCount: DIM },
  modelTopology: { class_name: 'Sequential', config: { name: 'toy' } },
  weightSpecs: [{ name: 'dense/kernel', shape: [3, 2] }],
  initialWeights: Float32Array.from([1, 2, 3, 4, 5, 6]),
};

const meta = (round: number, numExamples: number): UpdateMeta => ({
  round,
  numExamples,
  metrics: { loss: 0.5, accuracy: 0.75 },
  trainMs: 3,
});

let dir: string;
let clock: ManualClock;
const opened: Coordinator[] = [];

async function open(): Promise<Coordinator> {
  const c = await Coordinator.open({
    task,
    store: new CheckpointStore(dir, { logger: silentLogger() }),
    roundLog: new RoundLog(join(dir, 'rounds.jsonl'), silentLogger()),
    policy: { minClients: 2, maxClients: 3, minResults: 2, selectionWindowMs: 100, trainingTimeoutMs: 1000 },
    trainConfig: { epochs: 1, batchSize: 4, learningRate: 0.1, optimizer: 'sgd' },
    strategy: {
      sampler: new FractionSampler({ minClients: 2, maxClients: 3 }),
      aggregator: new WeightedMean(),
      serverOptimizer: new ServerSgd(),
    },
    protocol: (ctx) => new PlaintextProtocol(ctx),
    clock,
    log: () => undefined,
  });
  opened.push(c);
  return c;
}

/** Resolves once the coordinator's async aggregation has persisted and closed the round. */
function nextRound(c: Coordinator) {
  return new Promise<import('../../shared/protocol/rounds.js').RoundRecord>((resolve) => c.once('round', resolve));
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fedserve-coord-'));
  clock = new ManualClock();
});

afterEach(async () => {
  for (const c of opened.splice(0)) await c.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('Coordinator', () => {
  it('commits version 0 on an empty data dir and welcomes clients before training them', async () => {
    const c = await open();
    expect(c.currentVersion).toBe(0);
    expect(await new CheckpointStore(dir, { logger: silentLogger() }).versions()).toEqual([0]);
    c.startRounds(1);
    const a = new FakeLink('a');
    const b = new FakeLink('b');
    c.join(a);
    c.join(b);
    clock.advance(100);
    expect(a.events()).toEqual(['welcome', 'train']);
    expect(b.events()).toEqual(['welcome', 'train']);
  });

  it('applies the example-weighted mean of the deltas, persists it with the round record, and tells the participants', async () => {
    const c = await open();
    const a = new FakeLink('a');
    const b = new FakeLink('b');
    c.join(a);
    c.join(b);
    expect(c.startRounds(1)).toBe(1);
    clock.advance(100);
    const closed = nextRound(c);
    expect(
      c.receive('a', { kind: 'update', meta: meta(1, 10), delta: new Float32Array(DIM).fill(1), bytes: 0 }),
    ).toEqual({ ok: true });
    expect(
      c.receive('b', { kind: 'update', meta: meta(1, 30), delta: new Float32Array(DIM).fill(-1), bytes: 0 }),
    ).toEqual({ ok: true });
    const record = await closed;
    expect(record).toMatchObject({
      round: 1,
      status: 'committed',
      version: 1,
      baseVersion: 0,
      numExamples: 40,
      participants: ['a', 'b'],
    });
    expect(Array.from(c.currentWeights())).toEqual([0.5, 1.5, 2.5, 3.5, 4.5, 5.5]);
    const saved = await new CheckpointStore(dir, { logger: silentLogger() }).load(1);
    expect(Array.from(saved.weights)).toEqual([0.5, 1.5, 2.5, 3.5, 4.5, 5.5]);
    expect(saved.metadata).toMatchObject({ round: 1, numExamples: 40, trainAccuracy: 0.75 });
    expect(a.inbox.at(-1)).toMatchObject({
      event: 'round-closed',
      body: { round: 1, outcome: 'committed', version: 1 },
    });
  });

  it('refuses updates for a closed round or when no round runs, leaving the model unchanged', async () => {
    const c = await open();
    expect(c.receive('a', { kind: 'update', meta: meta(1, 10), delta: new Float32Array(DIM), bytes: 0 })).toMatchObject(
      { ok: false, code: 'stale-round' },
    );
    const a = new FakeLink('a');
    const b = new FakeLink('b');
    c.join(a);
    c.join(b);
    c.startRounds(2);
    clock.advance(100);
    const closed = nextRound(c);
    c.receive('a', { kind: 'update', meta: meta(1, 10), delta: new Float32Array(DIM).fill(1), bytes: 0 });
    c.receive('b', { kind: 'update', meta: meta(1, 10), delta: new Float32Array(DIM).fill(1), bytes: 0 });
    await closed;
    const weights = c.currentWeights();
    const stale = c.receive('a', {
      kind: 'update',
      meta: meta(1, 10),
      delta: new Float32Array(DIM).fill(100),
      bytes: 0,
    });
    expect(stale).toMatchObject({ ok: false, code: 'stale-round' });
    expect(!stale.ok && stale.message).toContain('round 2');
    expect(c.currentWeights()).toEqual(weights);
    expect(c.stats.updatesRefused).toBe(2);
  });

  it('fails a round whose participants miss the deadline, and runs the next one', async () => {
    const c = await open();
    const a = new FakeLink('a');
    const b = new FakeLink('b');
    c.join(a);
    c.join(b);
    c.startRounds(2);
    clock.advance(100);
    c.receive('a', { kind: 'update', meta: meta(1, 10), delta: new Float32Array(DIM).fill(1), bytes: 0 });
    const failed = nextRound(c);
    clock.advance(1000);
    const record = await failed;
    expect(record).toMatchObject({ round: 1, status: 'failed', participants: ['a', 'b'] });
    expect(record.reason).toContain('missed the 1000 ms deadline');
    expect(c.currentVersion).toBe(0);
    expect(Array.from(c.currentWeights())).toEqual(Array.from(task.initialWeights));
    clock.advance(100);
    expect(a.lastTrainRound()).toBe(2);
  });

  it('resumes after a restart from the latest version, and numbers rounds after failed ones too', async () => {
    const first = await open();
    const a = new FakeLink('a');
    const b = new FakeLink('b');
    first.join(a);
    first.join(b);
    first.startRounds(2);
    clock.advance(100);
    const committed = nextRound(first);
    first.receive('a', { kind: 'update', meta: meta(1, 10), delta: new Float32Array(DIM).fill(2), bytes: 0 });
    first.receive('b', { kind: 'update', meta: meta(1, 10), delta: new Float32Array(DIM).fill(2), bytes: 0 });
    await committed;
    clock.advance(100);
    const failed = nextRound(first);
    clock.advance(1000);
    await failed;
    const weights = first.currentWeights();
    await first.stop();

    const second = await open();
    expect(second.currentVersion).toBe(1);
    expect(second.currentWeights()).toEqual(weights);
    expect(second.nextRoundNumber()).toBe(3);
    expect(second.rounds().rounds.map((r) => [r.round, r.status])).toEqual([
      [1, 'committed'],
      [2, 'failed'],
    ]);
  });

  it('recovers the record of a round whose commit was not logged (crash between save and log)', async () => {
    const first = await open();
    first.join(new FakeLink('a'));
    first.join(new FakeLink('b'));
    first.startRounds(1);
    clock.advance(100);
    const committed = nextRound(first);
    first.receive('a', { kind: 'update', meta: meta(1, 10), delta: new Float32Array(DIM).fill(2), bytes: 0 });
    first.receive('b', { kind: 'update', meta: meta(1, 10), delta: new Float32Array(DIM).fill(2), bytes: 0 });
    await committed;
    await first.stop();
    await rm(join(dir, 'rounds.jsonl'));

    const second = await open();
    expect(second.rounds().rounds.map((r) => [r.round, r.status, r.version])).toEqual([[1, 'committed', 1]]);
    expect(second.nextRoundNumber()).toBe(2);
    expect(await new RoundLog(join(dir, 'rounds.jsonl'), silentLogger()).read()).toHaveLength(1);
  });

  it('lets a reconnecting client replace its old connection', async () => {
    const c = await open();
    const old = new FakeLink('a');
    c.join(old);
    c.join(new FakeLink('a'));
    expect(old.closedWith).toContain('replaced');
    expect(c.connectedClients()).toEqual(['a']);
    c.leave(old);
    expect(c.connectedClients()).toEqual(['a']);
  });

  it('refuses to resume a data dir that holds another model', async () => {
    await open();
    await opened.pop()!.stop();
    const other: Task = {
      ...task,
      weightSpecs: [
        { name: 'dense/kernel', shape: [2, 3] },
        { name: 'x', shape: [1] },
      ],
    };
    await expect(
      Coordinator.open({
        task: other,
        store: new CheckpointStore(dir, { logger: silentLogger() }),
        roundLog: new RoundLog(join(dir, 'rounds.jsonl'), silentLogger()),
        policy: { minClients: 1, maxClients: 1, minResults: 1, selectionWindowMs: 0, trainingTimeoutMs: 1 },
        trainConfig: { epochs: 1, batchSize: 1, learningRate: 0.1, optimizer: 'sgd' },
        strategy: {
          sampler: new FractionSampler({ minClients: 1 }),
          aggregator: new WeightedMean(),
          serverOptimizer: new ServerSgd(),
        },
        protocol: (ctx) => new PlaintextProtocol(ctx),
      }),
    ).rejects.toThrow(/holds checkpoints of a different model/);
  });
});
