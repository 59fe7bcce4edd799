import * as tf from '@tensorflow/tfjs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setupBackend } from '../../../shared/engine/backend.js';
import { createSeedCnn } from '../../../shared/model/seed-cnn.js';
import { getFlatWeights, weightSpecs } from '../../../shared/model/weights.js';
import { ModelRegistry } from '../../../server/serving/model-registry.js';
import { artifactFromModel } from '../../../server/serving/served-model.js';
import { CheckpointStore } from '../../../server/store/checkpoint-store.js';
import { silentLogger } from '../../../server/logger.js';

let dir: string;
let store: CheckpointStore;
let reference: tf.LayersModel;
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** n pseudo-random MNIST-shaped inputs in [0, 1). */
function inputs(n: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n * 784 }, () => (s = (s * 16807) % 2147483647) / 2147483647);
}

function expectedOutputs(model: tf.LayersModel, x: Float32Array, n: number): Float32Array {
  return tf.tidy(() => (model.predict(tf.tensor(x, [n, 28, 28, 1])) as tf.Tensor).dataSync() as Float32Array);
}

/** Weights of the seed CNN built with another seed: a distinct "committed version". */
function otherWeights(seed: number): Float32Array {
  const m = createSeedCnn(seed);
  const w = getFlatWeights(m);
  m.dispose();
  return w;
}

beforeAll(async () => {
  await setupBackend(undefined, { log: () => {}, argv: [], env: {} });
  dir = await mkdtemp(join(tmpdir(), 'fedserve-registry-'));
  store = new CheckpointStore(dir, { logger: silentLogger() });
  reference = createSeedCnn(7);
  const artifact = artifactFromModel(reference);
  for (const version of [1, 2, 3, 4]) {
    const weights = version === 1 ? artifact.weights : otherWeights(version * 11);
    await store.save({ ...artifact, weights, version, round: version * 10, metadata: {} });
  }
});
afterAll(async () => {
  reference.dispose();
  await rm(dir, { recursive: true, force: true });
});

describe('ModelRegistry', () => {
  it('serves a published model with identical outputs, in batches, without leaking tensors', async () => {
    const registry = new ModelRegistry(store, { maxBatch: 4 });
    expect(registry.current()).toBeNull();
    const served = (await registry.publish(1, reference, { round: 10 }))!;
    expect(registry.current()).toBe(served);
    expect(served.inputShape).toEqual([28, 28, 1]);
    expect(served.outputShape).toEqual([10]);
    expect(served.round).toBe(10);
    const x = inputs(10, 1);
    const before = tf.memory().numTensors;
    const y = await served.predict(x, 10);
    expect(tf.memory().numTensors).toBe(before);
    expect(y).toEqual(expectedOutputs(reference, x, 10));
    registry.dispose();
  });

  it('publishes bare weights with the current topology and keeps the newest current', async () => {
    const registry = new ModelRegistry(store);
    await expect(registry.publish(0, new Float32Array(3))).rejects.toThrow(/before any model/);
    await registry.publish(1, reference);
    const w5 = otherWeights(55);
    await registry.publish(5, w5, { round: 50 });
    expect(registry.current()!.version).toBe(5);
    await registry.publish(3, await store.load(3));
    expect(registry.current()!.version).toBe(5);
    expect(registry.current()!.artifact.weights).toEqual(w5);
    expect((await registry.get(3))!.round).toBe(30);
    expect(await registry.versions()).toEqual([1, 2, 3, 4, 5]);
    await expect(registry.publish(6, new Float32Array(3))).rejects.toThrow(
      /weights have 3 values, the weight specs need \d+/,
    );
    registry.dispose();
  });

  it('loads versions lazily from the store, evicts least recently used, and frees their tensors', async () => {
    await nextTurn();
    const baseline = tf.memory().numTensors;
    const perModel = weightSpecs(reference).length;
    const registry = new ModelRegistry(store, { capacity: 2 });
    await registry.publish(4, await store.load(4));
    const v1 = await registry.get(1);
    expect(v1!.artifact.weights).toEqual(getFlatWeights(reference));
    expect(v1!.round).toBe(10);
    expect(registry.loadedVersions()).toEqual([4, 1]);
    const [a, b] = await Promise.all([registry.get(2), registry.get(2)]);
    expect(a).toBe(b);
    // Version 1 was evicted, version 4 (current) is pinned.
    expect(registry.loadedVersions()).toEqual([4, 2]);
    await nextTurn();
    expect(tf.memory().numTensors - baseline).toBe(2 * perModel);
    expect(await registry.get(99)).toBeNull();
    registry.dispose();
    await nextTurn();
    expect(tf.memory().numTensors).toBe(baseline);
  });

  it('finishes a prediction on a model evicted while it runs', async () => {
    const registry = new ModelRegistry(store, { capacity: 1, maxBatch: 2 });
    const old = (await registry.publish(1, reference))!;
    const x = inputs(6, 2);
    const next = await store.load(2);
    let finished = false;
    const running = old.predict(x, 6).finally(() => (finished = true));
    await registry.publish(2, next);
    expect(registry.loadedVersions()).toEqual([2]);
    expect(finished).toBe(false);
    expect(await running).toEqual(expectedOutputs(reference, x, 6));
    await nextTurn();
    await expect(old.predict(x, 6)).rejects.toThrow(/version 1 has been unloaded/);
    registry.dispose();
  });
});
