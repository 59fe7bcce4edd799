import { describe, expect, it } from 'vitest';
import type { EvaluateTask, SecureEvaluateTask, TrainTask } from '../../../shared/protocol/messages.js';
import { evaluationTaskDigest, TaskGuard, trainTaskDigest } from '../../../shared/protocol/task-policy.js';
import {
  createSetup,
  generateIdentity,
  SecAggClient,
  SecAggRefusal,
  type SecAggSetup,
} from '../../../shared/secagg/index.js';

const identities = new Map(['a', 'b', 'c', 'd'].map((id) => [id, generateIdentity()]));
const setup = createSetup({
  round: 3,
  participants: [...identities].map(([id, identity]) => ({ id, identityKey: identity.publicKey })),
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

describe('TaskGuard on evaluation requests', () => {
  const request: EvaluateTask = { round: 3, version: 3, timeoutMs: 1000 };
  const secureRequest: SecureEvaluateTask = { ...request, secureAggregation: { setup } };

  it('answers plaintext requests until a secure session ran, then refuses them for good', () => {
    const guard = new TaskGuard({ requireSecureAggregation: false });
    expect(guard.checkEvaluation(request)).toBeUndefined();
    expect(guard.checkEvaluation(secureRequest)).toBeUndefined();
    expect(guard.checkEvaluation(request)).toBe(
      'it asks for metrics in the clear after this coordinator ran secure sessions with us (downgrade refused)',
    );
    expect(guard.checkEvaluation(secureRequest)).toBeUndefined();
  });

  it('a secure training round also rules out plaintext evaluation, and a secure evaluation plaintext training', () => {
    const trained = new TaskGuard({ requireSecureAggregation: false });
    expect(trained.check(secure)).toBeUndefined();
    expect(trained.checkEvaluation(request)).toMatch(/downgrade refused/);
    const evaluated = new TaskGuard({ requireSecureAggregation: false });
    expect(evaluated.checkEvaluation(secureRequest)).toBeUndefined();
    expect(evaluated.check(plain)).toMatch(/downgrade refused/);
  });

  it('refuses plaintext requests from the first one when the policy requires secure aggregation', () => {
    expect(new TaskGuard({ requireSecureAggregation: true }).checkEvaluation(request)).toBe(
      'it asks for metrics in the clear, and this client requires secure aggregation',
    );
  });
});

describe('evaluationTaskDigest', () => {
  const weights = new Float32Array([1, 2, 3]);
  const request: SecureEvaluateTask = { round: 3, version: 2, timeoutMs: 1000, secureAggregation: { setup } };

  it('differs from the training digest of the same round, version, setup and weights, and covers what it binds', () => {
    const digest = evaluationTaskDigest(request, weights);
    expect(digest).not.toEqual(trainTaskDigest(secure, weights));
    expect(evaluationTaskDigest({ ...request, timeoutMs: 7 }, weights)).toEqual(digest);
    expect(evaluationTaskDigest({ ...request, version: 3 }, weights)).not.toEqual(digest);
    expect(evaluationTaskDigest({ ...request, round: 4 }, weights)).not.toEqual(digest);
    expect(evaluationTaskDigest(request, new Float32Array([1, 2, 3.0001]))).not.toEqual(digest);
    const otherNonce: SecAggSetup = { ...setup, nonce: new Uint8Array(32).fill(1) };
    expect(evaluationTaskDigest({ ...request, secureAggregation: { setup: otherNonce } }, weights)).not.toEqual(digest);
  });

  it("a training session's keys replayed into the evaluation session are refused, even under the same round and nonce", async () => {
    // A malicious coordinator reuses the training session's round and nonce, so the replayed signatures verify: only the digests differ.
    const client = (id: string, digest: Uint8Array) =>
      new SecAggClient({ id, identity: identities.get(id)!, setup, digest });
    const trainingDigest = trainTaskDigest(secure, weights);
    const evaluationDigest = evaluationTaskDigest(request, weights);
    const training = await Promise.all(
      ['a', 'b', 'd'].map(async (id) => ({ id, ...(await client(id, trainingDigest).advertise()) })),
    );
    const victim = client('c', evaluationDigest);
    await victim.advertise();
    const peers = training.map(({ id, type: _type, round: _round, ...keys }) => ({ id, ...keys }));
    const replay = victim.shareKeys({ type: 'secagg/peer-keys', round: 3, peers });
    await expect(replay).rejects.toThrow(SecAggRefusal);
    await expect(replay).rejects.toThrow(
      /was given another model or round configuration than we were \(task digests differ\)/,
    );
    // The same keys under the training digest pass: it is the digest, not the signature, that refuses them.
    const trainingPeer = client('c', trainingDigest);
    await trainingPeer.advertise();
    await expect(trainingPeer.shareKeys({ type: 'secagg/peer-keys', round: 3, peers })).resolves.toMatchObject({
      type: 'secagg/share-keys',
    });
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
