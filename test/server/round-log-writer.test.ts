import { describe, expect, it } from 'vitest';
import type { RoundRecord } from '../../shared/protocol/rounds.js';
import { dpDurableRecord } from '../../server/dp-surfaces.js';
import { RoundLogWriter } from '../../server/round-log-writer.js';
import { roundRecord } from '../../server/round/round-record.js';

const T0 = Date.UTC(2026, 0, 1);
const failed = (round: number): RoundRecord =>
  roundRecord(
    {
      round,
      status: 'failed',
      reason: 'too few clients',
      baseVersion: 2,
      participants: ['a', 'b'],
      dropped: ['b'],
      refused: [],
      details: {},
      updateBytes: 8,
      startedAt: T0,
      enteredAt: { waiting: T0, selecting: T0 + 1, training: T0 + 2 },
    },
    T0 + 3,
  );

describe('RoundLogWriter', () => {
  it('appends closed rounds in order even when an earlier append is slower', async () => {
    const appended: number[] = [];
    const lines: string[] = [];
    let delay = 30;
    const roundLog = {
      append: async (record: RoundRecord) => {
        await new Promise((r) => setTimeout(r, (delay -= 10)));
        appended.push(record.round);
      },
    };
    const writer = new RoundLogWriter(roundLog, false, (l) => lines.push(l));
    writer.closed(failed(1), 2);
    writer.closed(failed(2), 2);
    writer.closed(failed(3), 2);
    await writer.flushed();
    expect(appended).toEqual([1, 2, 3]);
    expect(lines).toEqual([1, 2, 3].map((r) => `round ${r}: failed: too few clients`));
  });

  it('logs a failed append instead of throwing, and keeps appending later rounds', async () => {
    const appended: number[] = [];
    const lines: string[] = [];
    const roundLog = {
      append: (record: RoundRecord) => {
        if (record.round === 1) return Promise.reject(new Error('EIO: i/o error'));
        appended.push(record.round);
        return Promise.resolve();
      },
    };
    const writer = new RoundLogWriter(roundLog, false, (l) => lines.push(l));
    writer.closed(failed(1), 2);
    writer.closed(failed(2), 2);
    await writer.flushed();
    expect(appended).toEqual([2]);
    expect(lines).toContain('round 1: could not append to the round log: EIO: i/o error');
  });

  it('with differential privacy on, writes only what the durable record keeps (no participants)', async () => {
    const appended: RoundRecord[] = [];
    const writer = new RoundLogWriter({ append: async (r: RoundRecord) => void appended.push(r) }, true, () => {});
    const record = failed(4);
    writer.closed(record, 2);
    await writer.flushed();
    expect(appended).toEqual([dpDurableRecord(record)]);
    expect(appended[0].participants).toEqual([]);
    expect(appended[0].dropped).toEqual([]);
  });
});
