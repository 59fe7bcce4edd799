import { describe, expect, it } from 'vitest';
import { createProgress } from '../../client/progress.js';

function sink(isTTY: boolean) {
  const chunks: string[] = [];
  return { stream: { isTTY, columns: 80, write: (c: string) => chunks.push(c) }, chunks };
}

describe('progress', () => {
  it('writes timestamped log lines at each quarter when stdout is not a terminal', () => {
    const { stream, chunks } = sink(false);
    const p = createProgress(stream, 'c1');
    for (let i = 1; i <= 8; i++) p.step(3, i, 8, 0.5);
    p.end('round 3: trained');
    expect(chunks.map((c) => c.replace(/^\S+ /, ''))).toEqual([
      'c1 round 3: 25% (2/8 batches), loss 0.5000\n',
      'c1 round 3: 50% (4/8 batches), loss 0.5000\n',
      'c1 round 3: 75% (6/8 batches), loss 0.5000\n',
      'c1 round 3: trained\n',
    ]);
    expect(chunks.every((c) => !c.includes('\r'))).toBe(true);
  });

  it('redraws one bar in place on a terminal and clears it before a line', () => {
    const { stream, chunks } = sink(true);
    const p = createProgress(stream, 'c1');
    p.step(1, 4, 4, 0.25);
    p.end('done');
    expect(chunks[0]).toMatch(/^\rc1 round 1 \[#+\] 100% loss 0\.2500\x1b\[K$/);
    expect(chunks.slice(1)).toEqual(['\r\x1b[K', 'c1 done\n']);
  });
});
