import * as tf from '@tensorflow/tfjs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setupBackend, type BackendName } from '../../../shared/engine/backend.js';
import { createSeedCnn } from '../../../shared/model/seed-cnn.js';
import { InferenceEngine } from '../../../server/serving/inference-engine.js';
import { ModelRegistry } from '../../../server/serving/model-registry.js';
import { LocalRunner } from '../../../server/serving/model-runner.js';
import { artifactFromModel } from '../../../server/serving/served-model.js';
import { CheckpointStore } from '../../../server/store/checkpoint-store.js';
import { silentLogger } from '../../../server/logger.js';

let engine: InferenceEngine;
let dir: string;
const model = createSeedCnn(5);
const artifact = artifactFromModel(model);

function inputs(n: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n * 784 }, () => (s = (s * 16807) % 2147483647) / 2147483647);
}

beforeAll(async () => {
  const backend = await setupBackend(undefined, { log: () => {}, argv: [], env: {} });
  engine = await InferenceEngine.start(backend);
  dir = await mkdtemp(join(tmpdir(), 'fedserve-engine-'));
});
afterAll(async () => {
  await engine.close();
  model.dispose();
  await rm(dir, { recursive: true, force: true });
});

describe('InferenceEngine', () => {
  it('predicts on its thread as the same model does on this one, for views into larger buffers too', async () => {
    const remote = await engine.load(artifact);
    const local = await LocalRunner.load(artifact);
    expect(remote.signature).toEqual(local.signature);
    const big = inputs(12, 3);
    const view = big.subarray(2 * 784, 9 * 784);
    const want = await local.predict(view, 7, 4);
    const got = await remote.predict(view, 7, 4);
    got.forEach((v, i) => expect(v).toBeCloseTo(want[i], 6));
    // The caller's buffer is untouched (inputs are copied, not transferred).
    expect(view.length).toBe(7 * 784);
    local.dispose();
    remote.dispose();
    await expect(remote.predict(view, 7, 4)).rejects.toThrow(/is not loaded in the inference thread/);
  });

  it('reports a model that fails to load', async () => {
    await expect(engine.load({ ...artifact, modelTopology: { nonsense: true } })).rejects.toThrow();
  });

  it('serves a registry whose versions live on the thread, identical to one on this thread', async () => {
    const store = new CheckpointStore(dir, { logger: silentLogger() });
    const threaded = new ModelRegistry(store, { engine });
    const plain = new ModelRegistry(store);
    await threaded.publish(1, model);
    await plain.publish(1, model);
    const x = inputs(5, 9);
    const [a, b] = await Promise.all([threaded.current()!.predict(x, 5), plain.current()!.predict(x, 5)]);
    a.forEach((v, i) => expect(v).toBeCloseTo(b[i], 6));
    const before = tf.memory().numTensors;
    await threaded.current()!.predict(x, 5);
    // Nothing is allocated on this thread's backend.
    expect(tf.memory().numTensors).toBe(before);
    threaded.dispose();
    plain.dispose();
  });

  it('fails every call once closed', async () => {
    const other = await InferenceEngine.start(tf.getBackend() as BackendName);
    const runner = await other.load(artifact);
    await other.close();
    await expect(runner.predict(inputs(1, 1), 1, 1)).rejects.toThrow(/the inference engine was closed/);
    await expect(other.load(artifact)).rejects.toThrow(/closed/);
  });
});
