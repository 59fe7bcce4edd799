import { describe, expect, it } from 'vitest';
import { runFuzz, summaryLine } from '../../scripts/fuzz-core.js';

/**
 * A short run of `npm run fuzz` against a real coordinator process: hostile socket events,
 * handshakes and REST requests interleaved with honest clients completing rounds.
 */
describe('fuzzing a running coordinator', () => {
  it('survives 2,000 hostile cases: no crash, no 5xx, JSON 4xx, honest rounds commit, memory bounded', async () => {
    const summary = await runFuzz({ count: 2_000, seed: 11 });
    const line = summaryLine(summary);
    expect(summary.findings, line).toEqual([]);
    expect(summary).toMatchObject({ cases: 2_000, crashes: 0, fiveXX: 0, nonJson4xx: 0, hangs: 0 });
    expect(summary.roundsCommitted).toBeGreaterThanOrEqual(1);
    expect(summary.rssEndMiB - summary.rssStartMiB).toBeLessThan(256);
  }, 900_000);
});
