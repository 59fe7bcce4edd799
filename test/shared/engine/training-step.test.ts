import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { setupBackend } from '../../../shared/engine/backend.js';
import { loadMnist } from '../../../shared/data/mnist.node.js';
import { subset } from '../../../shared/data/dataset.js';
import { createSeedCnn } from '../../../shared/model/seed-cnn.js';
import { getFlatWeights, setFlatWeights } from '../../../shared/model/weights.js';
import { applyForTraining } from '../../../shared/model/training-forward.js';
import { trainLocal } from '../../../shared/training.js';
import { relativeL2 } from './kernel-cases.js';

const quiet = { log: () => {}, argv: [], env: {} };

beforeAll(async () => {
  await setupBackend('wasm', quiet);
});

/**
 * Loss gradients of the seed CNN (weights `flat`) on the first `n` training digits, per weight, as
 * training computes them (on wasm: the fused conv + ReLU + pooling op).
 */
async function seedCnnGradients(backend: 'wasm' | 'cpu', flat: Float32Array, n: number): Promise<Float32Array[]> {
  await setupBackend(backend, quiet);
  const { train } = loadMnist();
  const batch = subset(
    train,
    Int32Array.from({ length: n }, (_, i) => i),
  );
  const model = createSeedCnn();
  setFlatWeights(model, flat);
  const xs = tf.tensor(batch.x, [n, 28, 28, 1]);
  const ys = tf.oneHot(tf.tensor1d(batch.y, 'int32'), 10).toFloat();
  const { grads, value } = tf.variableGrads(
    () => tf.mean<tf.Scalar>(tf.metrics.categoricalCrossentropy(ys, applyForTraining(model, xs))),
    model.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val),
  );
  const out = await Promise.all(Object.values(grads).map(async (g) => (await g.data()) as Float32Array));
  tf.dispose([xs, ys, value, ...Object.values(grads)]);
  model.dispose();
  return out;
}

describe('seed CNN training on wasm', () => {
  it('computes the same gradients as the cpu backend', async () => {
    await setupBackend('cpu', quiet);
    const reference = createSeedCnn(7);
    const flat = getFlatWeights(reference);
    reference.dispose();
    const cpu = await seedCnnGradients('cpu', flat, 6);
    const wasm = await seedCnnGradients('wasm', flat, 6);
    expect(wasm).toHaveLength(8);
    for (let i = 0; i < cpu.length; i++) {
      expect(
        cpu[i].some((v) => v !== 0),
        `gradient ${i} is not all zero`,
      ).toBe(true);
      expect(relativeL2(wasm[i], cpu[i]), `gradient of weight ${i}`).toBeLessThanOrEqual(1e-5);
    }
  });

  it('leaks no tensors and no wasm buffers over 100 training steps', async () => {
    await setupBackend('wasm', quiet);
    const { train } = loadMnist();
    const ds = subset(
      train,
      Int32Array.from({ length: 200 }, (_, i) => i),
    );
    const model = createSeedCnn();
    const cfg = { epochs: 1, batchSize: 8, learningRate: 1e-3, optimizer: 'adam' as const, seed: 3 };
    await trainLocal(model, ds, cfg);
    const before = tf.memory();
    // Kernels' intermediates and the optimizer's moments are heap buffers the engine never sees.
    const heapBuffersBefore = tf.backend().numDataIds();
    let steps = 0;
    for (let round = 0; round < 4; round++) await trainLocal(model, ds, cfg, () => steps++);
    const after = tf.memory();
    expect(steps).toBe(100);
    expect(after.numTensors).toBe(before.numTensors);
    expect(after.numDataBuffers).toBe(before.numDataBuffers);
    expect(tf.backend().numDataIds()).toBe(heapBuffersBefore);
    model.dispose();
  });
});
