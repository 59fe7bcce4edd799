import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataParallelTrainer } from '../../client/data-parallel-trainer.js';
import { subset, type Dataset } from '../../shared/data/dataset.js';
import { loadMnist } from '../../shared/data/mnist.node.js';
import { setupBackend } from '../../shared/engine/backend.js';
import { createSeedCnn } from '../../shared/model/seed-cnn.js';
import { getFlatWeights, setFlatWeights } from '../../shared/model/weights.js';
import { trainLocal, type TrainConfig } from '../../shared/training.js';

let digits: Dataset;
let start: Float32Array;
let trainer: DataParallelTrainer;

beforeAll(async () => {
  await setupBackend('wasm', { log: () => {}, argv: [], env: {} });
  const { train } = loadMnist();
  // 100 examples at batch 32: the last batch (4 examples) splits unevenly too.
  digits = subset(
    train,
    Int32Array.from({ length: 100 }, (_, i) => i),
  );
  const model = createSeedCnn(3);
  start = getFlatWeights(model);
  model.dispose();
  trainer = new DataParallelTrainer({ threads: 2 });
});

afterAll(async () => {
  await trainer.close();
});

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

async function singleThread(config: TrainConfig): Promise<{ weights: Float32Array; loss: number; accuracy: number }> {
  const model = createSeedCnn();
  setFlatWeights(model, start);
  const result = await trainLocal(model, digits, config);
  const weights = getFlatWeights(model);
  model.dispose();
  return { weights, ...result };
}

async function onTrainer(t: DataParallelTrainer, config: TrainConfig) {
  const model = createSeedCnn();
  setFlatWeights(model, start);
  const result = await t.train(model, digits, config);
  const weights = getFlatWeights(model);
  model.dispose();
  return { weights, ...result };
}

const adam: TrainConfig = { epochs: 2, batchSize: 32, learningRate: 1e-3, optimizer: 'adam', seed: 7 };

describe('DataParallelTrainer', () => {
  it('trains on 2 worker threads to the weights, loss and accuracy of one thread', async () => {
    expect(await trainer.threads(digits)).toBe(2);
    for (const config of [adam, { ...adam, optimizer: 'sgd', learningRate: 0.05, proximalMu: 0.1 } as const]) {
      const one = await singleThread(config);
      const two = await onTrainer(trainer, config);
      expect(maxAbsDiff(two.weights, start)).toBeGreaterThan(1e-3);
      expect(maxAbsDiff(two.weights, one.weights)).toBeLessThanOrEqual(1e-5);
      expect(two.loss).toBeCloseTo(one.loss, 5);
      expect(two.accuracy).toBe(one.accuracy);
    }
  });

  it('reports every step, and a progress callback that throws stops training; the next job still runs', async () => {
    const steps: number[] = [];
    const model = createSeedCnn();
    await expect(
      trainer.train(model, digits, adam, (done, total) => {
        steps.push(done / total);
        if (done === 2) throw new Error('round closed');
      }),
    ).rejects.toThrow('round closed');
    expect(steps).toEqual([1 / 8, 2 / 8]);
    model.dispose();
    const again = await onTrainer(trainer, adam);
    expect(maxAbsDiff(again.weights, (await singleThread(adam)).weights)).toBeLessThanOrEqual(1e-5);
  });

  it('falls back to this thread when no worker thread starts, and says so', async () => {
    const lines: string[] = [];
    const broken = new DataParallelTrainer({
      threads: 2,
      log: (line) => lines.push(line),
      spawn: () => new Worker('throw new Error("workers are disabled here")', { eval: true }),
    });
    try {
      expect(await broken.threads(digits)).toBe(1);
      expect(lines.join('\n')).toMatch(/this thread only: .*workers are disabled here/);
      const fallback = await onTrainer(broken, adam);
      expect(maxAbsDiff(fallback.weights, (await singleThread(adam)).weights)).toBe(0);
    } finally {
      await broken.close();
    }
  });

  it('refuses a thread count that is not a positive integer', () => {
    for (const threads of [0, -1, 1.5, NaN])
      expect(() => new DataParallelTrainer({ threads })).toThrow(/positive integer, got/);
  });
});
