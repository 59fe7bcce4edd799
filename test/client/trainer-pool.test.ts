import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TrainerPool } from '../../client/trainer-pool.js';
import { subset, type Dataset } from '../../shared/data/dataset.js';
import { loadMnist } from '../../shared/data/mnist.node.js';
import { setupBackend } from '../../shared/engine/backend.js';
import { createSeedCnn } from '../../shared/model/seed-cnn.js';
import { getFlatWeights, setFlatWeights } from '../../shared/model/weights.js';
import { seededRng } from '../../shared/random.js';
import { trainLocal, type TrainConfig } from '../../shared/training.js';

const config: TrainConfig = { epochs: 1, batchSize: 16, learningRate: 1e-3, optimizer: 'adam', seed: 5 };
let pool: TrainerPool;
let digits: Dataset[];
let start: Float32Array;

beforeAll(async () => {
  await setupBackend('wasm', { log: () => {}, argv: [], env: {} });
  pool = new TrainerPool({ size: 2, backend: 'wasm' });
  const { train } = loadMnist();
  digits = [0, 1].map((k) =>
    subset(
      train,
      Int32Array.from({ length: 48 }, (_, i) => k * 48 + i),
    ),
  );
  const model = createSeedCnn(11);
  start = getFlatWeights(model);
  model.dispose();
});

afterAll(async () => {
  await pool.close();
});

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('TrainerPool', () => {
  it('starts every worker on the requested backend', async () => {
    expect(await pool.backends()).toEqual(['wasm', 'wasm']);
  });

  it('trains jobs in parallel with the same result as training in this thread', async () => {
    const outcomes = await Promise.all(
      digits.map((data) => pool.train({ model: 'seed-cnn', weights: start, data, config })),
    );
    for (const [k, data] of digits.entries()) {
      const local = createSeedCnn();
      setFlatWeights(local, start);
      const result = await trainLocal(local, data, config);
      expect(outcomes[k].result).toEqual(result);
      expect(maxAbsDiff(outcomes[k].weights, getFlatWeights(local))).toBeLessThanOrEqual(1e-6);
      expect(maxAbsDiff(outcomes[k].weights, start)).toBeGreaterThan(0);
      local.dispose();
    }
  });

  it('trains a model given as a layers topology', async () => {
    const rng = seededRng(9);
    const n = 64;
    const x = Float32Array.from({ length: n * 4 }, () => rng());
    const y = Int32Array.from({ length: n }, (_, i) => (x[i * 4] > 0.5 ? 1 : 0));
    const model = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 2, activation: 'softmax' })] });
    const topology = model.toJSON(undefined, false) as object;
    const weights = getFlatWeights(model);
    const outcome = await pool.train({
      model: { topology },
      weights,
      data: { x, y, n, inputShape: [4], numClasses: 2 },
      config: { ...config, optimizer: 'sgd', learningRate: 0.5, epochs: 3 },
    });
    expect(outcome.weights).toHaveLength(weights.length);
    expect(outcome.result.numExamples).toBe(n);
    model.dispose();
  });

  it('moves buffers instead of copying them when asked to', async () => {
    const weights = start.slice();
    const data = subset(
      digits[0],
      Int32Array.from({ length: 16 }, (_, i) => i),
    );
    const done = pool.train({ model: 'seed-cnn', weights, data, config }, { transfer: true });
    expect(weights.length).toBe(0);
    expect(data.x.length).toBe(0);
    expect((await done).weights).toHaveLength(start.length);
  });

  it('rejects bad jobs with the reason, and keeps working', async () => {
    await expect(
      pool.train({ model: 'seed-cnn', weights: start.subarray(1), data: digits[0], config }),
    ).rejects.toThrow(/weight vector has 121929 values, the model needs 121930/);
    await expect(
      pool.train({ model: 'seed-cnn', weights: start, data: { ...digits[0], n: 47 }, config }),
    ).rejects.toThrow(/for n=47 examples/);
    await expect(
      pool.train({ model: 'seed-cnn', weights: start, data: digits[0], config: { ...config, batchSize: 0 } }),
    ).rejects.toThrow(/batchSize/);
    const ok = await pool.train({ model: 'seed-cnn', weights: start, data: digits[1], config });
    expect(ok.result.numExamples).toBe(48);
  });

  it('rejects queued and new jobs once closed', async () => {
    const small = new TrainerPool({ size: 1, backend: 'cpu' });
    const queued = expect(small.train({ model: 'seed-cnn', weights: start, data: digits[0], config })).rejects.toThrow(
      /closed/,
    );
    await small.close();
    await queued;
    await expect(small.train({ model: 'seed-cnn', weights: start, data: digits[0], config })).rejects.toThrow(/closed/);
  });
});
