import { describe, expect, it } from 'vitest';
import type { RoundRecord } from '../../shared/protocol/rounds.js';
import { nextRounds } from './helpers.js';
import {
  plaintextFedAvg,
  secureSuite,
  startSecureClient,
  startSecureCoordinator,
  weightsOf,
  type SecureTestClient,
} from './secagg-helpers.js';

/**
 * int8 compression under secure aggregation: real NodeClients mask 16-bit value words, the
 * coordinator unmasks the sum, and the model moves by the plaintext weighted FedAvg within the
 * (coarser) bound the round states, for about half the upload of 32-bit words.
 */

const M = 7850;
const CLIP = 1;
const MAX_WEIGHT = 10_000;
const suite = secureSuite();

async function secureRound(
  codec: 'float32' | 'int8',
): Promise<{ record: RoundRecord; clients: SecureTestClient[]; url: string }> {
  const server = await startSecureCoordinator(suite.dataDir(), suite.model(), 4, {
    rounds: { start: 1, selectionWindowMs: 0, trainingTimeoutMs: 20_000 },
    compression: { codec },
  });
  suite.defer(() => server.close());
  const done = nextRounds(server, 1);
  const clients = Array.from({ length: 4 }, (_, i) => {
    const c = startSecureClient(server.url, i, `c${i}`);
    suite.defer(() => c.stop());
    return c;
  });
  const [record] = await done;
  return { record, clients, url: server.url };
}

describe('secure aggregation with int8 updates', () => {
  it('uses 16-bit words: the sum is exact within the stated bound and each client uploads at most 0.55x', async () => {
    const wide = await secureRound('float32');
    const narrow = await secureRound('int8');
    expect(wide.record.secureAggregation?.wordBits).toBeUndefined();
    expect(narrow.record.status, narrow.record.reason).toBe('committed');
    expect(narrow.record.secureAggregation).toMatchObject({ wordBits: 16, survivors: ['c0', 'c1', 'c2', 'c3'] });

    // 4 clients in Z_2^16: s = (floor(32767 / 4) - 1) / clip, so the bound is clip / 8190 with full weights.
    const bound = narrow.record.secureAggregation!.errorBound!;
    expect(bound).toBeGreaterThan(0);
    expect(bound).toBeLessThan((4 * MAX_WEIGHT) / ((8190 / CLIP) * 400) + 1e-12);
    const expected = plaintextFedAvg(narrow.clients, 1, M, CLIP, MAX_WEIGHT);
    const [before, after] = await Promise.all([weightsOf(narrow.url, 0), weightsOf(narrow.url, 1)]);
    let worst = 0;
    for (let i = 0; i < M; i++) {
      const rounding = 2 ** -23 * (Math.abs(after[i]) + Math.abs(before[i]));
      worst = Math.max(worst, Math.abs(after[i] - before[i] - expected[i]) - (bound + rounding));
    }
    expect(worst, 'largest deviation beyond the stated bound').toBeLessThanOrEqual(0);

    const perClient = (r: RoundRecord) => r.updateBytes / r.contributions.length;
    expect(perClient(narrow.record) / perClient(wide.record)).toBeLessThanOrEqual(0.55);
  });
});
