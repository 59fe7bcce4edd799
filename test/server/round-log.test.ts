import { appendFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RoundRecord } from '../../shared/protocol/rounds.js';
import { assertLoggable, RoundLog } from '../../server/round-log.js';
import { lineLogger, silentLogger } from '../../server/logger.js';

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
    const log = new RoundLog(join(dir, 'sub', 'rounds.jsonl'), silentLogger());
    expect(await log.read()).toEqual([]);
    await log.append(record(1));
    await log.append(record(2));
    expect((await log.read()).map((r) => r.round)).toEqual([1, 2]);
  });

  it('skips a torn last line with a warning and keeps later appends on their own line', async () => {
    const path = join(dir, 'rounds.jsonl');
    const warnings: string[] = [];
    const log = new RoundLog(
      path,
      lineLogger((w) => warnings.push(w)),
    );
    await log.append(record(1));
    await appendFile(path, '{"round":2,"sta');
    expect((await log.read()).map((r) => r.round)).toEqual([1]);
    expect(warnings).toEqual([`round log ${path}: line 2 is not JSON (interrupted write?); skipped`]);
    await log.append(record(3));
    expect((await new RoundLog(path, silentLogger()).read()).map((r) => r.round)).toEqual([1, 3]);
  });

  it('reads back exactly what it wrote at the extremes the schema allows', async () => {
    const path = join(dir, 'rounds.jsonl');
    const warnings: string[] = [];
    const extreme: RoundRecord = {
      ...record(1),
      status: 'committed',
      version: Number.MAX_SAFE_INTEGER,
      contributions: [
        { clientId: 'big', numExamples: Number.MAX_SAFE_INTEGER, loss: 1e308, accuracy: 1, trainMs: Number.MAX_VALUE },
        { clientId: 'tiny', numExamples: 0, loss: -1e308, accuracy: 0, trainMs: 5e-324 },
      ],
      numExamples: Number.MAX_SAFE_INTEGER,
      trainLoss: Number.MAX_VALUE,
      trainAccuracy: -0,
      updateBytes: Number.MAX_SAFE_INTEGER,
      phaseMs: { training: Number.MAX_VALUE, 'we\u2028ird"name': 0 },
      durationMs: 1e308,
    };
    await new RoundLog(path, silentLogger()).append(extreme);
    expect(
      await new RoundLog(
        path,
        lineLogger((w) => warnings.push(w)),
      ).read(),
    ).toEqual([{ ...extreme, trainAccuracy: 0 }]);
    expect(warnings).toEqual([]);
  });

  it.each([
    ['an example count past 2^53 - 1', { numExamples: 2 ** 53 }, /numExamples is 9007199254740992/],
    ['an infinite loss', { trainLoss: Infinity }, /trainLoss is Infinity/],
    ['a NaN accuracy', { trainAccuracy: NaN }, /trainAccuracy is NaN/],
    ['a negative duration', { durationMs: -1 }, /durationMs is -1/],
    ['a round 0', { round: 0 }, /round is 0/],
  ])('refuses to write a record with %s, writing nothing', async (_what, patch, message) => {
    const path = join(dir, 'rounds.jsonl');
    const log = new RoundLog(path, silentLogger());
    await log.append(record(1));
    const bad = { ...record(2), ...patch };
    expect(() => assertLoggable(bad)).toThrow(message);
    await expect(log.append(bad)).rejects.toThrow(/record cannot be logged/);
    expect((await readFile(path, 'utf8')).trim().split('\n')).toHaveLength(1);
  });
});
