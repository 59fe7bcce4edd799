import { describe, expect, it } from 'vitest';
import type { TrainTask } from '../../../shared/protocol/messages.js';
import { TaskGuard, trainTaskDigest } from '../../../shared/protocol/task-policy.js';
import { createSetup, generateIdentity } from '../../../shared/secagg/index.js';

const setup = createSetup({
  round: 3,
  participants: ['a', 'b', 'c', 'd'].map((id) => ({ id, identityKey: generateIdentity().publicKey })),
  vectorLength: 10,
  clip: 1,
  maxWeight: 100,
});
const plain: TrainTask = {
  round: 3,
  version: 2,
  config: { epochs: 1, batchSize: 32, learningRate: 0.1, optimizer: 'sgd' },
  timeoutMs: 1000,
};
const secure: TrainTask = { ...plain, secureAggregation: { setup, slots: [] } };
const dp = (noiseMultiplier: number, clipNorm = 1): TrainTask['privacy'] => ({
  mode: 'central',
  clipNorm,
  noiseMultiplier,
  updateNoiseStd: 0,
  indicatorNoiseStd: null,
});

describe('TaskGuard', () => {
  it('accepts a plain task by default, and refuses plaintext for good once a secure round ran', () => {
    const guard = new TaskGuard({ requireSecureAggregation: false });
    expect(guard.check(plain)).toBeUndefined();
    expect(guard.check(secure)).toBeUndefined();
    expect(guard.check(plain)).toMatch(/downgrade refused/);
    expect(guard.check(secure)).toBeUndefined();
  });

  it('requires secure aggregation from the first task when the policy says so', () => {
    expect(new TaskGuard({ requireSecureAggregation: true }).check(plain)).toMatch(
      /this client requires secure aggregation/,
    );
  });

  it('enforces a noise floor, a clip ceiling, and never lets the noise drop below what it saw', () => {
    const floor = new TaskGuard({ requireSecureAggregation: false, minNoiseMultiplier: 1 });
    expect(floor.check(plain)).toMatch(/carries no differential privacy/);
    expect(floor.check({ ...plain, privacy: dp(0.99) })).toBe(
      'its DP noise multiplier 0.99 is below the 1 this client requires',
    );
    expect(floor.check({ ...plain, privacy: dp(1) })).toBeUndefined();
    const clip = new TaskGuard({ requireSecureAggregation: false, maxClipNorm: 2 });
    expect(clip.check({ ...plain, privacy: dp(1, 2.5) })).toBe("its DP clip norm 2.5 exceeds this client's limit 2");
    const sticky = new TaskGuard({ requireSecureAggregation: false });
    expect(sticky.check({ ...plain, privacy: dp(1.5) })).toBeUndefined();
    expect(sticky.check({ ...plain, privacy: dp(0.5) })).toMatch(/below the 1.5/);
    expect(sticky.check(plain)).toMatch(/carries no differential privacy/);
  });

  it('refuses insane configs: vanishing or huge learning rates, many epochs, a weak threshold, a huge clip', () => {
    const guard = new TaskGuard({ requireSecureAggregation: false });
    expect(guard.check({ ...plain, config: { ...plain.config, learningRate: 1e-30 } })).toMatch(
      /learning rate 1e-30 is outside/,
    );
    expect(guard.check({ ...plain, config: { ...plain.config, learningRate: 50 } })).toMatch(
      /learning rate 50 is outside/,
    );
    expect(guard.check({ ...plain, config: { ...plain.config, epochs: 500 } })).toMatch(/500 local epochs/);
    expect(guard.check({ ...secure, secureAggregation: { setup: { ...setup, threshold: 2 }, slots: [] } })).toBe(
      'its secure-aggregation threshold 2 is below the floor 3 for k = 3',
    );
    expect(guard.check({ ...secure, secureAggregation: { setup: { ...setup, clip: 1e5 }, slots: [] } })).toMatch(
      /clip 100000 exceeds/,
    );
    // A refused task records nothing: this guard has not seen a secure round yet.
    expect(guard.check(plain)).toBeUndefined();
  });
});

describe('trainTaskDigest', () => {
  it('covers the weights, the config and the setup, but not the relative deadline', () => {
    const weights = new Float32Array([1, 2, 3]);
    const digest = trainTaskDigest(secure, weights);
    expect(trainTaskDigest({ ...secure, timeoutMs: 5 }, weights)).toEqual(digest);
    expect(trainTaskDigest(secure, new Float32Array([1, 2, 3.0001]))).not.toEqual(digest);
    expect(trainTaskDigest({ ...secure, config: { ...secure.config, learningRate: 0.2 } }, weights)).not.toEqual(
      digest,
    );
    expect(
      trainTaskDigest({ ...secure, secureAggregation: { setup: { ...setup, maxWeight: 101 }, slots: [] } }, weights),
    ).not.toEqual(digest);
    expect(trainTaskDigest({ ...secure, privacy: dp(1) }, weights)).not.toEqual(digest);
    // Key order does not matter: the JSON is canonical.
    const reordered = {
      secureAggregation: secure.secureAggregation,
      timeoutMs: 1000,
      config: secure.config,
      version: 2,
      round: 3,
    } as TrainTask;
    expect(trainTaskDigest(reordered, weights)).toEqual(digest);
  });
});
