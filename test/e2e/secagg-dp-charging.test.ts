import { describe, expect, it } from 'vitest';
import type { SecAggTamper } from '../../server/round/secagg-protocol.js';
import { computeEpsilon } from '../../shared/privacy/rdp.js';
import { nextRounds } from './helpers.js';
import { secureSuite, startSecureClient, startSecureCoordinator } from './secagg-helpers.js';

/**
 * A secure round that aborts before aggregation is charged like a committed one: the Poisson draw
 * was taken (the coordinator knows who was sampled, the clients were sent the model), so its cost
 * is on the ledger whatever follows. The coordinator unmasked nothing, so its own account stays at 0.
 */

const N = 4;
const suite = secureSuite();

describe('secure aggregation with distributed differential privacy: an aborted round', () => {
  it('is charged in the released account and reported, and the coordinator account is untouched', async () => {
    // A threshold below the floor: every client refuses to go on, the round aborts before any masked input.
    const tamper: SecAggTamper = { setup: (_to, setup) => ({ ...setup, threshold: 1 }) };
    const server = await startSecureCoordinator(
      suite.dataDir(),
      suite.model(),
      N,
      {
        rounds: { start: 1, selectionWindowMs: 0, trainingTimeoutMs: 12_000, minResults: 2 },
        strategy: { sampler: { minClients: N, minAvailable: N, fraction: 1 } },
        secureAggregation: { enabled: true, phaseTimeoutMs: 2_000 },
        privacy: { mode: 'distributed', noiseMultiplier: 1, clipNorm: 1, delta: 1e-5, targetEpsilon: 1e6 },
      },
      { secAggTamper: tamper },
    );
    suite.defer(() => server.close());
    const done = nextRounds(server, 1);
    for (let i = 0; i < N; i++) {
      const c = startSecureClient(server.url, i, `s${i}`);
      suite.defer(() => c.stop());
    }
    const [record] = await done;
    expect(record.status).toBe('failed');
    expect(record.reason).toMatch(/secure aggregation/);
    expect(server.coordinator.currentVersion).toBe(0);
    const oneRound = computeEpsilon({ q: 1, noiseMultiplier: 1, steps: 1, delta: 1e-5 }).epsilon;
    expect(record.privacy!.epsilon).toBeCloseTo(oneRound, 10);
    const status = server.coordinator.privacyStatus()!;
    expect(status.rounds).toBe(1);
    expect(status.epsilon).toBeCloseTo(oneRound, 10);
    expect(status.coordinatorEpsilon).toBe(0);
  });
});
