import { describe, expect, it } from 'vitest';
import { Krum, krumSelect } from '../../../shared/aggregation/krum.js';
import { expectWithin, honestPlusOutliers, updates } from './helpers.js';

// a=[0,0] b=[1,0] c=[0,2] d=[3,3] e=[10,10]. Squared distances:
// ab 1, ac 4, ad 18, ae 200, bc 5, bd 13, be 181, cd 10, ce 164, de 98.
// With f = 1 each score sums the n - f - 2 = 2 nearest: a 1+4=5, b 1+5=6, c 4+5=9, d 10+13=23, e 98+164=262.
const points = [
  [0, 0],
  [1, 0],
  [0, 2],
  [3, 3],
  [10, 10],
];

describe('Krum', () => {
  it('selects by the summed squared distance to the n - f - 2 nearest others', () => {
    expect(krumSelect(updates(points), 1, 5 - 1)).toEqual([0, 1, 2, 3]);
  });

  it('ranks by score, not by position in the round', () => {
    // The same five points listed e, d, c, b, a: the ranking a, b, c, d is now positions 4, 3, 2, 1.
    const reversed = updates([...points].reverse());
    expect(krumSelect(reversed, 1, 4)).toEqual([4, 3, 2, 1]);
    expect(Array.from(new Krum({ byzantine: 1 }).aggregate(reversed))).toEqual([0, 0]);
    const outliersFirst = honestPlusOutliers(8, 2).reverse();
    expect(krumSelect(outliersFirst, 2, 6).every((i) => i >= 2)).toBe(true);
  });

  it('breaks ties by position', () => {
    expect(
      krumSelect(
        updates([
          [1, 1],
          [1, 1],
          [1, 1],
          [1, 1],
          [1, 1],
        ]),
        0,
        5,
      ),
    ).toEqual([0, 1, 2, 3, 4]);
    // b and d are mirror images around a, c, e: equal scores, so the earlier position wins.
    expect(krumSelect(updates([[0], [-1], [0], [1], [0]]), 0, 5)).toEqual([0, 2, 4, 1, 3]);
  });

  it('Krum returns the single most central delta, as a copy', () => {
    const round = updates(points);
    const out = new Krum({ byzantine: 1 }).aggregate(round);
    expect(Array.from(out)).toEqual([0, 0]);
    expect(out).not.toBe(round[0].delta);
  });

  it('Krum returns the most central delta even when its client reports no examples (Krum is unweighted)', () => {
    expect(Array.from(new Krum({ byzantine: 1 }).aggregate(updates(points, [0, 1, 1, 1, 1])))).toEqual([0, 0]);
  });

  it('MultiKrum returns the example-weighted mean of the m best', () => {
    // a, b, c with 1, 1, 2 examples: ([0,0] + [1,0] + 2*[0,2]) / 4 = [0.25, 1]
    const agg = new Krum({ byzantine: 1, keep: 3 });
    expect(agg.name).toBe('multikrum');
    expect(Array.from(agg.aggregate(updates(points, [1, 1, 2, 1, 1])))).toEqual([0.25, 1]);
  });

  it('refuses rounds too small for its guarantee', () => {
    expect(() => new Krum({ byzantine: 1 }).aggregate(updates(points.slice(0, 4)))).toThrow(
      /at least 5 updates \(2f \+ 3\), got 4/,
    );
    expect(() => new Krum({ byzantine: 2 }).aggregate(updates([...points, [5, 5]]))).toThrow(
      'Krum with 2 Byzantine clients needs at least 7 updates (2f + 3), got 6',
    );
    expect(() => new Krum({ byzantine: 1, keep: 5 }).aggregate(updates(points))).toThrow(
      'MultiKrum cannot keep 5 of 5 updates when 1 may be Byzantine (keep <= n - f)',
    );
    expect(() => new Krum({ byzantine: -1 })).toThrow(/non-negative integer/);
    expect(() => new Krum({ keep: 0 })).toThrow(/positive integer/);
  });

  it('never selects the outliers and stays within the honest range', () => {
    const round = honestPlusOutliers(8, 2);
    expect(krumSelect(round, 2, 6).every((i) => i < 8)).toBe(true);
    expectWithin(new Krum({ byzantine: 2 }).aggregate(round), 0.4, 0.6);
    expectWithin(new Krum({ byzantine: 2, keep: 6 }).aggregate(round), 0.4, 0.6);
  });
});
