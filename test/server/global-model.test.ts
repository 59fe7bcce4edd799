import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ServerSgd } from '../../shared/aggregation/server-sgd.js';
import type { Task } from '../../shared/task.js';
import { GlobalModel, type GlobalModelDeps } from '../../server/global-model.js';
import { silentLogger } from '../../server/logger.js';
import { roundRecord } from '../../server/round/round-record.js';
import { CheckpointStore, type CheckpointInput } from '../../server/store/checkpoint-store.js';

const task: Task = {
  info: { name: 'toy', inputShape: [2], numClasses: 2, parameterCount: 4 },
  modelTopology: { class_name: 'Sequential', config: { name: 'toy' } },
  weightSpecs: [{ name: 'dense/kernel', shape: [2, 2] }],
  initialWeights: Float32Array.from([1, 2, 3, 4]),
};

const T0 = Date.UTC(2026, 0, 1);
const record = (round: number) =>
  roundRecord(
    {
      round,
      status: 'committed',
      baseVersion: 3,
      participants: ['a'],
      dropped: [],
      refused: [],
      details: {},
      updateBytes: 16,
      startedAt: T0,
      enteredAt: { waiting: T0, selecting: T0 + 1, training: T0 + 2, aggregating: T0 + 3 },
    },
    T0 + 4,
  );

/** A store whose disk refuses every write. */
class FullDiskStore extends CheckpointStore {
  override save(_cp: CheckpointInput): Promise<void> {
    return Promise.reject(new Error('ENOSPC: no space left on device'));
  }
}

let dir: string;
let store: CheckpointStore;
let optimizer: ServerSgd;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'global-model-'));
  store = new CheckpointStore(dir, { logger: silentLogger() });
  // Momentum, so the optimizer has state a failed commit must put back.
  optimizer = new ServerSgd(1, 0.5);
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Version 3 is current, 5 was the highest ever committed (4 and 5 quarantined), round 7 the last. */
function model(over: Partial<GlobalModelDeps> = {}): GlobalModel {
  const deps = { task, store, optimizer, privacy: undefined, maxUpdateNorm: 100, ...over };
  return new GlobalModel(deps, { weights: task.initialWeights, version: 3, highestVersion: 5, lastRound: 7 });
}

const delta = () => Float32Array.from([0.5, 0.5, -1, 0]);

describe('GlobalModel', () => {
  it('commits the stepped weights under the next number after the highest ever, saved before they become current', async () => {
    const m = model();
    const described = await m.commit(delta(), async ({ version, weights }) => {
      expect(m.version).toBe(3);
      return { record: { ...record(8), version }, seen: Array.from(weights) };
    });
    expect(described.seen).toEqual([1.5, 2.5, 2, 4]);
    expect(m.version).toBe(6);
    expect(Array.from(m.weights)).toEqual([1.5, 2.5, 2, 4]);
    const saved = await store.load(6);
    expect(Array.from(saved.weights)).toEqual([1.5, 2.5, 2, 4]);
    expect(saved.round).toBe(8);
    expect(saved.state?.optimizer).toEqual({ velocity: Float32Array.from([0.5, 0.5, -1, 0]) });
  });

  it('keeps version, weights and optimizer state when the save fails', async () => {
    const m = model({ store: new FullDiskStore(dir, { logger: silentLogger() }) });
    await expect(m.commit(delta(), async ({ version }) => ({ record: { ...record(8), version } }))).rejects.toThrow(
      /ENOSPC/,
    );
    expect(m.version).toBe(3);
    expect(Array.from(m.weights)).toEqual([1, 2, 3, 4]);
    expect(optimizer.state()).toEqual({});
    expect(await store.versions()).toEqual([]);
    // The next commit still gets the number after the highest ever: a failed save used none.
    const next = model();
    await next.commit(delta(), async ({ version }) => ({ record: { ...record(8), version } }));
    expect(next.version).toBe(6);
  });

  it('fails a commit whose number another writer took, and numbers the next one after it', async () => {
    // Another cluster node (a leader that lost its lease mid-commit) published version 6 meanwhile.
    await store.save({ ...task, weights: Float32Array.from([9, 9, 9, 9]), version: 6, round: 8, metadata: {} });
    const m = model();
    const commit = () => m.commit(delta(), async ({ version }) => ({ record: { ...record(8), version } }));
    await expect(commit()).rejects.toThrow(/version 6 already exists/);
    expect(m.version).toBe(3);
    expect(optimizer.state()).toEqual({});
    await commit();
    expect(m.version).toBe(7);
    expect(Array.from((await store.load(6)).weights)).toEqual([9, 9, 9, 9]);
  });

  it('refuses a non-finite aggregate before evaluating or saving anything', async () => {
    const m = model();
    let described = false;
    const bad = Float32Array.from([Number.NaN, 0, 0, 0]);
    const commit = m.commit(bad, async ({ version }) => {
      described = true;
      return { record: { ...record(8), version } };
    });
    await expect(commit).rejects.toThrow('the aggregated update has a non-finite value at index 0');
    expect(described).toBe(false);
    expect(m.version).toBe(3);
    expect(await store.versions()).toEqual([]);
  });

  it('restores the optimizer when the evaluation of the candidate fails', async () => {
    const m = model();
    const commit = m.commit(delta(), () => Promise.reject(new Error('evaluation crashed')));
    await expect(commit).rejects.toThrow('evaluation crashed');
    expect(optimizer.state()).toEqual({});
    expect(m.version).toBe(3);
    expect(await store.versions()).toEqual([]);
  });

  it('welcomes a client with the task, the current version and the last round number', () => {
    const m = model();
    m.roundClosed(9);
    expect(m.lastRound).toBe(9);
    expect(m.welcome('c1')).toEqual({
      event: 'welcome',
      to: 'c1',
      body: {
        clientId: 'c1',
        task: task.info,
        modelTopology: task.modelTopology,
        weightSpecs: task.weightSpecs,
        version: 3,
        round: 9,
      },
    });
  });
});
