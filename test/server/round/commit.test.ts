import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ServerSgd } from '../../../shared/aggregation/server-sgd.js';
import type { Task } from '../../../shared/task.js';
import type { CoordinatorPrivacy } from '../../../server/coordinator-options.js';
import { silentLogger } from '../../../server/logger.js';
import { checkedStep, saveVersion } from '../../../server/round/commit.js';
import { roundRecord } from '../../../server/round/round-record.js';
import { CheckpointStore } from '../../../server/store/checkpoint-store.js';

const task: Task = {
  info: { name: 'toy', inputShape: [2], numClasses: 2, parameterCount: 2 },
  modelTopology: { class_name: 'Sequential', config: { name: 'toy' } },
  weightSpecs: [{ name: 'dense/bias', shape: [2] }],
  initialWeights: Float32Array.from([1, 2]),
};

const T0 = Date.UTC(2026, 0, 1);
const record = roundRecord(
  {
    round: 8,
    status: 'committed',
    baseVersion: 3,
    version: 4,
    participants: ['a'],
    dropped: [],
    refused: [],
    details: {},
    updateBytes: 8,
    startedAt: T0,
    enteredAt: { waiting: T0, selecting: T0, training: T0 + 1, aggregating: T0 + 2 },
  },
  T0 + 3,
);

/** Only checkpoint() is asked for when a version is saved. */
const privacy = { checkpoint: () => ({ spent: Float32Array.from([0.25, 0.5]) }) } as unknown as CoordinatorPrivacy;

let dir: string;
let store: CheckpointStore;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'commit-'));
  store = new CheckpointStore(dir, { logger: silentLogger() });
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('checkedStep', () => {
  it("returns the optimizer's step by a usable aggregate", () => {
    const next = checkedStep(new ServerSgd(1), Float32Array.from([1, 2]), Float32Array.from([3, 4]), 5);
    expect(Array.from(next)).toEqual([4, 6]);
  });

  it('refuses a step the optimizer blows up even when the aggregate is within the limit', () => {
    // Learning rate 100: an aggregate of norm 5 becomes a step of norm 500.
    expect(() => checkedStep(new ServerSgd(100), Float32Array.from([1, 2]), Float32Array.from([3, 4]), 10)).toThrow(
      "the server optimizer's step has L2 norm 500.0, above the limit 10 (rounds.maxUpdateNorm)",
    );
  });

  it('refuses an aggregate above the limit before the optimizer steps', () => {
    const optimizer = new ServerSgd(1, 0.5);
    expect(() => checkedStep(optimizer, Float32Array.from([1, 2]), Float32Array.from([30, 40]), 10)).toThrow(
      'the aggregated update has L2 norm 50.00, above the limit 10 (rounds.maxUpdateNorm)',
    );
    // No momentum was built up: the optimizer never saw the aggregate.
    expect(optimizer.state()).toEqual({});
  });
});

describe('saveVersion', () => {
  it("saves the privacy ledger's checkpoint with the optimizer state when privacy is on", async () => {
    const weights = Float32Array.from([4, 6]);
    await saveVersion(store, task, { version: 4, weights, record }, new ServerSgd(1), privacy);
    const saved = await store.load(4);
    expect(saved.round).toBe(8);
    expect(Array.from(saved.weights)).toEqual([4, 6]);
    expect(saved.state).toEqual({ optimizer: {}, privacy: { spent: Float32Array.from([0.25, 0.5]) } });
  });

  it('saves no privacy state when privacy is off', async () => {
    await saveVersion(
      store,
      task,
      { version: 4, weights: Float32Array.from([4, 6]), record },
      new ServerSgd(1),
      undefined,
    );
    expect((await store.load(4)).state).toEqual({ optimizer: {} });
  });

  it('refuses a record the round log could not read back, saving nothing', async () => {
    const unloggable = { ...record, numExamples: -1 };
    await expect(
      saveVersion(
        store,
        task,
        { version: 4, weights: Float32Array.from([4, 6]), record: unloggable },
        new ServerSgd(1),
        undefined,
      ),
    ).rejects.toThrow("round 8's record cannot be logged: numExamples is -1");
    expect(await store.versions()).toEqual([]);
  });
});
