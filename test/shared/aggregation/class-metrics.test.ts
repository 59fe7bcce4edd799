import { describe, expect, it } from 'vitest';
import {
  checkConfusion,
  classMetrics,
  emptyConfusion,
  sumConfusions,
  unflattenConfusion,
  flattenConfusion,
} from '../../../shared/aggregation/class-metrics.js';

describe('per-class metrics', () => {
  it('derives precision, recall, F1 and support from a confusion matrix', () => {
    // true 0: 8 right, 2 called 1; true 1: 3 called 0, 6 right, 1 called 2; true 2: none.
    const m = [
      [8, 2, 0],
      [3, 6, 1],
      [0, 0, 0],
    ];
    const [c0, c1, c2] = classMetrics(m);
    expect(c0.precision).toBeCloseTo(8 / 11, 12);
    expect(c0.recall).toBeCloseTo(0.8, 12);
    expect(c0.f1).toBeCloseTo((2 * (8 / 11) * 0.8) / (8 / 11 + 0.8), 12);
    expect(c0.support).toBe(10);
    expect(c1).toMatchObject({ precision: 0.75, recall: 0.6, support: 10 });
    expect(c2).toEqual({ precision: 0, recall: 0, f1: 0, support: 0 });
    // A class with examples that is never predicted: precision 0, not 0 / 0.
    expect(
      classMetrics([
        [2, 0],
        [1, 0],
      ])[1],
    ).toEqual({ precision: 0, recall: 0, f1: 0, support: 1 });
  });

  it('sums matrices entry by entry and refuses mismatched or invalid ones', () => {
    const a = [
      [1, 2],
      [3, 4],
    ];
    const b = [
      [10, 0],
      [0, 5],
    ];
    expect(sumConfusions([a, b])).toEqual([
      [11, 2],
      [3, 9],
    ]);
    expect(() => sumConfusions([a, emptyConfusion(3)])).toThrow('confusion matrix #1 has 3 classes, the first has 2');
    expect(() => sumConfusions([])).toThrow('zero confusion matrices');
    expect(() =>
      sumConfusions([
        a,
        [
          [0, 1],
          [2, -3],
        ],
      ]),
    ).toThrow('confusion matrix #1: entry [1][1] is -3, not a count');
    expect(() => checkConfusion([[1, 2], [3]], 'm')).toThrow('m: row 1 has 1 entries, the matrix has 2 classes');
    expect(() => checkConfusion([[-1]], 'm')).toThrow('m: entry [0][0] is -1, not a count');
    expect(() => checkConfusion([], 'm')).toThrow('m: a confusion matrix needs at least one class');
    expect(() => checkConfusion([[0]], 'm')).not.toThrow();
    expect(unflattenConfusion(flattenConfusion(a), 2)).toEqual(a);
    expect(() => unflattenConfusion([1, 2, 3], 2)).toThrow('a 2-class confusion matrix has 4 entries, got 3');
  });
});
