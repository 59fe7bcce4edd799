import { appendFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RoundRecord } from '../../shared/protocol/rounds.js';
import { RoundLog } from '../../server/round-log.js';

const record = (round: number): RoundRecord => ({
  round,
  status: 'failed',
  baseVersion: 0,
  participants: ['a'],
  dropped: [],
  contributions: [],
  numExamples: 0,
  updateBytes: 0,
  reason: 'too few updates',
  startedAt: new Date(0).toISOString(),
  phaseMs: { waiting: 1 },
  durationMs: 0,
});

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fedserve-log-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

describe('RoundLog', () => {
  it('reads nothing from a missing file and reads back what it appended', async () => {
    const log = new RoundLog(join(dir, 'sub', 'rounds.jsonl'));
    expect(await log.read()).toEqual([]);
    await log.append(record(1));
    await log.append(record(2));
    expect((await log.read()).map((r) => r.round)).toEqual([1, 2]);
  });

  it('skips a torn last line with a warning and keeps later appends on their own line', async () => {
    const path = join(dir, 'rounds.jsonl');
    const warnings: string[] = [];
    const log = new RoundLog(path, (w) => warnings.push(w));
    await log.append(record(1));
    await appendFile(path, '{"round":2,"sta');
    expect((await log.read()).map((r) => r.round)).toEqual([1]);
    expect(warnings).toEqual([`round log ${path}: line 2 is not JSON (interrupted write?); skipped`]);
    await log.append(record(3));
    expect((await new RoundLog(path, () => undefined).read()).map((r) => r.round)).toEqual([1, 3]);
  });
});
