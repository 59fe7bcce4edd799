import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  combineShards,
  DataParallelCore,
  defaultThreadsFor,
  shardSizes,
  type ReplicaChannel,
} from '../../client/data-parallel-core.js';
import type { FromReplica, ToReplica } from '../../client/data-parallel-protocol.js';
import { serveReplica } from '../../client/data-parallel-replica.js';
import type { Dataset } from '../../shared/data/dataset.js';
import { setupBackend } from '../../shared/engine/backend.js';
import { seededRng } from '../../shared/random.js';
import { getFlatWeights, setFlatWeights } from '../../shared/model/weights.js';
import { trainLocal, type TrainConfig } from '../../shared/training.js';

/**
 * The platform-free half of data-parallel training, shared by the Node and browser trainers: the
 * split, the combination of shard results, and the trainer itself on replicas that run in this
 * thread (the channel only queues messages), so no worker hides what the arithmetic does.
 */

describe('shardSizes', () => {
  it('splits a batch into contiguous shards differing by at most one, never an empty one', () => {
    expect(shardSizes(25, 2)).toEqual([12, 13]);
    expect(shardSizes(32, 4)).toEqual([8, 8, 8, 8]);
    expect(shardSizes(10, 3)).toEqual([3, 3, 4]);
    expect(shardSizes(3, 8)).toEqual([1, 1, 1]);
    expect(shardSizes(7, 1)).toEqual([7]);
  });

  it('refuses an empty batch and a shard count that is not a positive integer', () => {
    expect(() => shardSizes(0, 2)).toThrow('a batch needs at least one example, got 0');
    expect(() => shardSizes(4, 0)).toThrow('shards must be a positive integer, got 0');
    expect(() => shardSizes(4, 1.5)).toThrow('shards must be a positive integer, got 1.5');
  });
});

describe('combineShards', () => {
  it('sums the scaled gradients and weights each shard loss by its size', () => {
    const combined = combineShards(
      [
        { gradient: Float32Array.from([1, 2]), loss: 0.5, correct: 1 },
        { gradient: Float32Array.from([10, 20]), loss: 2, correct: 2 },
      ],
      [1, 3],
    );
    expect(Array.from(combined.gradient)).toEqual([11, 22]);
    expect(combined.loss).toBeCloseTo((0.5 * 1 + 2 * 3) / 4, 12);
    expect(combined.correct).toBe(3);
  });

  it('refuses parts and sizes that do not match, and gradients of different lengths', () => {
    const part = { gradient: new Float32Array(2), loss: 0, correct: 0 };
    expect(() => combineShards([part], [1, 1])).toThrow('combining 1 shard results with 2 shard sizes');
    expect(() => combineShards([], [])).toThrow('combining 0 shard results with 0 shard sizes');
    expect(() => combineShards([part, { ...part, gradient: new Float32Array(3) }], [1, 1])).toThrow(
      'shard gradients differ in length: 3 vs 2',
    );
  });
});

describe('defaultThreadsFor', () => {
  it('takes every core up to 4, and 1 when the count is unknown', () => {
    expect([1, 2, 3, 4, 8, 64].map(defaultThreadsFor)).toEqual([1, 2, 3, 4, 4, 4]);
    expect([0, NaN, 2.5].map(defaultThreadsFor)).toEqual([1, 1, 1]);
  });
});

/** A replica in this thread behind a channel that delivers each message later, as a worker would. */
function inProcessChannel(replyToSetup?: FromReplica): ReplicaChannel {
  let received: (message: FromReplica) => void = () => undefined;
  const receive = serveReplica((message) => setTimeout(() => received(message), 0));
  return {
    post: (message: ToReplica) =>
      setTimeout(() => {
        if (message.kind === 'setup' && replyToSetup) received(replyToSetup);
        else receive(structuredClone(message));
      }, 0),
    listen: (onMessage) => (received = onMessage),
    terminate: () => Promise.resolve(),
  };
}

function denseModel(): tf.LayersModel {
  const model = tf.sequential();
  model.add(tf.layers.dense({ inputShape: [6], units: 8, activation: 'relu', kernelInitializer: 'glorotUniform' }));
  model.add(tf.layers.dense({ units: 3, activation: 'softmax' }));
  return model;
}

let data: Dataset;
let start: Float32Array;

beforeAll(async () => {
  await setupBackend('cpu', { log: () => {}, argv: [], env: {} });
  const rng = seededRng(5);
  const n = 45;
  data = {
    x: Float32Array.from({ length: n * 6 }, () => rng() * 2 - 1),
    y: Int32Array.from({ length: n }, () => Math.floor(rng() * 3)),
    n,
    inputShape: [6],
    numClasses: 3,
  };
  const model = denseModel();
  start = getFlatWeights(model);
  model.dispose();
});

afterAll(() => tf.disposeVariables());

async function trained(train: (model: tf.LayersModel) => Promise<{ loss: number; accuracy: number }>) {
  const model = denseModel();
  setFlatWeights(model, start);
  const result = await train(model);
  const weights = getFlatWeights(model);
  model.dispose();
  return { weights, ...result };
}

const config: TrainConfig = { epochs: 2, batchSize: 16, learningRate: 0.01, optimizer: 'adam', seed: 3 };

describe('DataParallelCore on in-thread replicas', () => {
  it('trains 3 replicas to the weights, loss and accuracy of trainLocal', async () => {
    const core = new DataParallelCore({ threads: 3 }, { spawn: () => inProcessChannel(), noun: 'test replicas' });
    try {
      expect(await core.threads(data)).toBe(3);
      const one = await trained((m) => trainLocal(m, data, config));
      const three = await trained((m) => core.train(m, data, config));
      let diff = 0;
      let moved = 0;
      for (let i = 0; i < start.length; i++) {
        diff = Math.max(diff, Math.abs(three.weights[i] - one.weights[i]));
        moved = Math.max(moved, Math.abs(three.weights[i] - start[i]));
      }
      expect(moved).toBeGreaterThan(1e-3);
      expect(diff).toBeLessThanOrEqual(1e-6);
      expect(three.loss).toBeCloseTo(one.loss, 5);
      expect(three.accuracy).toBe(one.accuracy);
    } finally {
      await core.close();
    }
  });

  it('falls back to this thread when a replica fails to set up or cannot be started, and says why', async () => {
    for (const [spawn, reason] of [
      [() => inProcessChannel({ kind: 'failed', message: 'no wasm here' }), 'training replica failed: no wasm here'],
      [
        () => {
          throw new Error('Worker is not defined');
        },
        'Worker is not defined',
      ],
    ] as const) {
      const lines: string[] = [];
      const core = new DataParallelCore({ threads: 2, log: (l) => lines.push(l) }, { spawn, noun: 'test replicas' });
      expect(await core.threads(data)).toBe(1);
      expect(core.fallbackReason).toBe(reason);
      expect(lines).toEqual([`training on this thread only: test replicas are unavailable (${reason})`]);
      const fallback = await trained((m) => core.train(m, data, config));
      const one = await trained((m) => trainLocal(m, data, config));
      expect(Array.from(fallback.weights)).toEqual(Array.from(one.weights));
      await core.close();
    }
  });

  it('refuses a thread count that is not a positive integer', () => {
    const platform = { spawn: () => inProcessChannel(), noun: 'test replicas' };
    for (const threads of [0, -1, 1.5, NaN])
      expect(() => new DataParallelCore({ threads }, platform)).toThrow(/positive integer, got/);
  });
});
