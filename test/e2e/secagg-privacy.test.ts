import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setupBackend } from '../../shared/engine/backend.js';
import { nextRounds, tempDir } from './helpers.js';
import {
  expectCommittedDelta,
  saveSmallMnistModel,
  startSecureClient,
  startSecureCoordinator,
  type SecureCoordinator,
  type SecureTestClient,
} from './secagg-helpers.js';

/**
 * Distributed differential privacy under secure aggregation: each client clips its update and
 * adds its share of the noise, secure aggregation sums the clients unweighted (DP-FedAvg), and
 * the privacy runtime turns the plain sum into the mean and charges the ledger. The coordinator
 * never sees a single noisy update, so its epsilon is the released model's.
 */

const M = 7850;
const NOISE = 0.5;
const CLIP_NORM = 1;

let dir: Awaited<ReturnType<typeof tempDir>>;
let server: SecureCoordinator;
let cs: SecureTestClient[] = [];

beforeAll(async () => {
  await setupBackend('wasm', { log: () => undefined });
  dir = await tempDir();
  const model = await saveSmallMnistModel(dir.path);
  server = await startSecureCoordinator(`${dir.path}/data`, model, 4, {
    rounds: { start: 1, selectionWindowMs: 0, trainingTimeoutMs: 20_000, minResults: 2 },
    // Poisson sampling at rate 1: every connected client takes part.
    strategy: { sampler: { minClients: 4, minAvailable: 4, fraction: 1 } },
    privacy: { mode: 'distributed', noiseMultiplier: NOISE, clipNorm: CLIP_NORM, delta: 1e-5, targetEpsilon: 1e6 },
  });
});

afterAll(async () => {
  await Promise.all(cs.map((c) => c.stop()));
  await server?.close();
  await dir?.remove();
});

describe('secure aggregation with distributed differential privacy', () => {
  it('sums the privatized updates unweighted, and the privacy runtime releases their mean', async () => {
    const done = nextRounds(server, 1);
    cs = [0, 1, 2, 3].map((i) => startSecureClient(server.url, i, `p${i}`));
    const [record] = await done;
    expect(record.status, record.reason).toBe('committed');
    expect(record.privacy).toMatchObject({
      mode: 'distributed',
      contributors: 4,
      expectedContributors: 4,
      clipNorm: CLIP_NORM,
    });
    // Nobody dropped: the clients' noise is all the noise, and the coordinator saw only the sum.
    expect(record.privacy!.clientNoiseMultiplier).toBeCloseTo(NOISE, 12);
    expect(record.privacy!.coordinatorEpsilon).toBe(record.privacy!.epsilon);
    const secure = record.secureAggregation!;
    expect(secure.maxWeight).toBe(1);
    // Each client's noise std is z C / sqrt(n); the clip range leaves room for 8 of them.
    expect(secure.clip).toBeCloseTo(CLIP_NORM + (8 * NOISE * CLIP_NORM) / 2, 9);
    // No example count, loss or accuracy is summed under DP: their exact sums are not covered by the accountant.
    expect(record.numExamples).toBe(0);
    expect(record.trainLoss).toBeUndefined();
    expect(record.trainAccuracy).toBeUndefined();
    const expected = new Float64Array(M);
    for (const c of cs) {
      const { vector } = c.plaintext.get(record.round)!;
      for (let i = 0; i < M; i++) expected[i] += vector[i] / cs.length;
    }
    await expectCommittedDelta(server.url, record, expected);
  });
});
