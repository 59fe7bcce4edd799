import { appendFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RoundPrivacyRecord } from '../../shared/protocol/rounds.js';
import { PrivacyJournal } from '../../server/privacy-journal.js';
import { lineLogger, silentLogger } from '../../server/logger.js';

const privacy = (epsilon: number): RoundPrivacyRecord => ({
  mode: 'central',
  epsilon,
  delta: 1e-5,
  targetEpsilon: 10,
  order: 8,
  samplingRate: 1,
  expectedContributors: 2,
  contributors: 2,
  clipNorm: 1,
  releasedNoiseMultiplier: 1,
  clientNoiseMultiplier: null,
  coordinatorEpsilon: null,
});

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fedserve-journal-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

describe('PrivacyJournal', () => {
  it('reads back every charge, skipping a torn line with a warning and keeping later charges apart from it', async () => {
    const path = join(dir, 'privacy-charges.jsonl');
    const warnings: string[] = [];
    const journal = new PrivacyJournal(
      path,
      lineLogger((w) => warnings.push(w)),
    );
    expect(journal.read()).toEqual([]);
    journal.record({ round: 1, privacy: privacy(4.5) });
    await appendFile(path, '{"round":2,"privacy":{"mo');
    journal.record({ round: 3, privacy: privacy(7.25) });
    expect(journal.read()).toEqual([
      { round: 1, privacy: privacy(4.5) },
      { round: 3, privacy: privacy(7.25) },
    ]);
    expect(warnings).toEqual([`privacy journal ${path}: line 3 is not a charge (interrupted write?); skipped`]);
  });

  it('refuses to record a charge its reader would skip, writing nothing', async () => {
    const path = join(dir, 'privacy-charges.jsonl');
    const journal = new PrivacyJournal(path, silentLogger());
    expect(() => journal.record({ round: 1, privacy: privacy(Number.NaN) })).toThrow();
    expect(() => journal.record({ round: 0, privacy: privacy(1) })).toThrow();
    await expect(readFile(path)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
