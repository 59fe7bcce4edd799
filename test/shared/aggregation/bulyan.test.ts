import { describe, expect, it } from 'vitest';
import { Bulyan } from '../../../shared/aggregation/bulyan.js';
import { expectWithin, honestPlusOutliers, updates } from './helpers.js';

describe('Bulyan', () => {
  it('with f = 0 is the unweighted mean', () => {
    expect(
      Array.from(
        new Bulyan(0).aggregate(
          updates(
            [
              [1, 0],
              [2, 3],
              [6, 9],
            ],
            [5, 1, 1],
          ),
        ),
      ),
    ).toEqual([3, 4]);
  });

  it('picks n - 2f updates by repeated Krum, then averages the theta - 2f values nearest the median', () => {
    // n = 7, f = 1: theta = 5 picked, beta = 3 averaged. Repeated Krum picks the five honest
    // points and never [50,-40] or [-60,0] (checked against a NumPy port of Flower's Bulyan).
    // coordinate 0 picked: 0 1 2 3.5 7, median 2 -> nearest 2, 1, 3.5 -> 6.5/3
    // coordinate 1 picked: 8 9 10 11 14, median 10 -> nearest 10, 9, 11 -> 10
    const round = updates([
      [0, 10],
      [1, 11],
      [2, 9],
      [3.5, 14],
      [7, 8],
      [50, -40],
      [-60, 0],
    ]);
    const out = new Bulyan(1).aggregate(round);
    expect(out[0]).toBeCloseTo(6.5 / 3, 6);
    expect(out[1]).toBe(10);
  });

  it('scores each Krum selection by its n - f - 2 nearest remaining updates (at least 1)', () => {
    // n = 7, f = 1, one coordinate. The five selections use 4, 3, 2, 1, 1 neighbours and pick
    // 7, 9, 6, 0, 1 (first: 7's four nearest squared distances 1 + 1 + 4 + 16 = 22 beat 6's 0 + 1 + 9 + 25).
    // Picked sorted 0 1 6 7 9, median 6; the three nearest it are 6, 7, 9 -> 22/3. Scoring by one
    // neighbour or by all of them picks other updates (mean 19/3).
    const out = new Bulyan(1).aggregate(updates([[0], [1], [6], [6], [7], [9], [11]]));
    expect(out[0]).toBeCloseTo(22 / 3, 6);
  });

  it('averages the values nearest the median, dropping the upper end on a tie', () => {
    // n = 7, f = 1: the five honest values 0 1 2 4 4 are picked (the two at 1e6 never), median 2.
    // 2 - 0 = 4 - 2 twice: the 4s go, leaving 0 1 2 -> 1.
    const out = new Bulyan(1).aggregate(updates([[4], [0], [2], [4], [1], [1e6], [-1e6]]));
    expect(out[0]).toBe(1);
  });

  it('needs n >= 4f + 3', () => {
    expect(() => new Bulyan(2).aggregate(updates(Array.from({ length: 10 }, (_, i) => [i])))).toThrow(
      /at least 11 updates \(4f \+ 3\), got 10/,
    );
    expect(() => new Bulyan(1).aggregate(updates([[1], [2], [3], [4], [5], [6]]))).toThrow(
      /at least 7 updates \(4f \+ 3\), got 6/,
    );
    expect(() => new Bulyan(1.5)).toThrow(/non-negative integer/);
    expect(() => new Bulyan(-1)).toThrow("Bulyan's number of Byzantine clients must be a non-negative integer, got -1");
  });

  it('stays within the honest range despite huge outliers', () => {
    expectWithin(new Bulyan(2).aggregate(honestPlusOutliers(9, 2)), 0.4, 0.6);
  });
});
