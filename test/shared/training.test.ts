import { beforeAll, describe, expect, it } from 'vitest';
import { subset, type Dataset } from '../../shared/data/dataset.js';
import { loadMnist } from '../../shared/data/mnist.node.js';
import { setupBackend } from '../../shared/engine/backend.js';
import { createSeedCnn } from '../../shared/model/seed-cnn.js';
import { getFlatWeights, setFlatWeights } from '../../shared/model/weights.js';
import { evaluate, trainLocal, type TrainConfig } from '../../shared/training.js';

let train: Dataset;
let test: Dataset;

beforeAll(async () => {
  await setupBackend('wasm', { log: () => {}, argv: [], env: {} });
  const mnist = loadMnist();
  train = subset(
    mnist.train,
    Int32Array.from({ length: 512 }, (_, i) => i),
  );
  test = subset(
    mnist.test,
    Int32Array.from({ length: 300 }, (_, i) => i),
  );
});

const adam: TrainConfig = { epochs: 2, batchSize: 32, learningRate: 2e-3, optimizer: 'adam', seed: 4 };

function distance(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return Math.sqrt(s);
}

describe('trainLocal / evaluate', () => {
  it('learns MNIST digits: held-out accuracy rises well above chance', async () => {
    const model = createSeedCnn();
    const before = await evaluate(model, test);
    const steps: number[] = [];
    const result = await trainLocal(model, train, adam, (done, total) => steps.push(done / total));
    const after = await evaluate(model, test);
    expect(result.numExamples).toBe(512);
    expect(steps).toHaveLength(32);
    expect(steps.at(-1)).toBe(1);
    expect(after.loss).toBeLessThan(before.loss);
    expect(after.accuracy).toBeGreaterThan(0.7);
    expect(after.numExamples).toBe(300);
    model.dispose();
  });

  it('lets timers run while it trains, so a socket keeps answering pings during a long round', async () => {
    const model = createSeedCnn();
    let stepNow = 0;
    const firedAt: number[] = [];
    // A timer due right away must fire during training, not after its 16 batches.
    const timer = setInterval(() => firedAt.push(stepNow), 1);
    await trainLocal(model, train, { ...adam, epochs: 1 }, (done) => void (stepNow = done));
    clearInterval(timer);
    expect(firedAt.length).toBeGreaterThan(0);
    expect(firedAt[0]).toBeLessThan(16);
    model.dispose();
  });

  it('repeats exactly with the same seed', async () => {
    const start = getFlatWeights(createSeedCnn());
    const runs = [];
    for (let r = 0; r < 2; r++) {
      const model = createSeedCnn();
      setFlatWeights(model, start);
      const result = await trainLocal(
        model,
        subset(
          train,
          Int32Array.from({ length: 96 }, (_, i) => i),
        ),
        { ...adam, epochs: 1 },
      );
      runs.push({ result, weights: getFlatWeights(model) });
      model.dispose();
    }
    expect(runs[1].result).toEqual(runs[0].result);
    expect(distance(runs[1].weights, runs[0].weights)).toBe(0);
  });

  it('FedProx keeps the local model closer to the global one', async () => {
    const start = getFlatWeights(createSeedCnn());
    const sgd: TrainConfig = { epochs: 1, batchSize: 32, learningRate: 0.1, optimizer: 'sgd', seed: 2 };
    const drift = async (proximalMu: number) => {
      const model = createSeedCnn();
      setFlatWeights(model, start);
      await trainLocal(
        model,
        subset(
          train,
          Int32Array.from({ length: 192 }, (_, i) => i),
        ),
        { ...sgd, proximalMu },
      );
      const d = distance(getFlatWeights(model), start);
      model.dispose();
      return d;
    };
    expect(await drift(1)).toBeLessThan(await drift(0));
  });

  it('refuses empty datasets', async () => {
    const model = createSeedCnn();
    const empty = subset(train, []);
    await expect(trainLocal(model, empty, adam)).rejects.toThrow(/empty dataset/);
    await expect(evaluate(model, empty)).rejects.toThrow(/empty dataset/);
    model.dispose();
  });
});
