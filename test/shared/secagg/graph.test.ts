import { describe, expect, it } from 'vitest';
import { neighbourGraph } from '../../../shared/secagg/graph.js';
import {
  activeCollusionBound,
  binomialBelow,
  defaultGraphParams,
  DEFAULT_ASSUMPTIONS,
  minimumThreshold,
  resolveGraphParams,
} from '../../../shared/secagg/params.js';

const ids = (n: number) => Array.from({ length: n }, (_, i) => `c${i}`);
const seed = (b: number) => new Uint8Array(32).fill(b);

describe('random Harary graph', () => {
  it('is k-regular and symmetric, without self-loops', () => {
    for (const [n, k] of [
      [7, 2],
      [20, 6],
      [51, 12],
      [9, 8],
    ]) {
      const g = neighbourGraph(ids(n), k, seed(1));
      expect(g.size).toBe(n);
      for (const [u, nb] of g) {
        expect(new Set(nb).size).toBe(k);
        expect(nb).not.toContain(u);
        for (const v of nb) expect(g.get(v)).toContain(u);
      }
    }
  });

  it("lists each client's neighbours in ring order: its k/2 predecessors, then its k/2 successors", () => {
    const g = neighbourGraph(ids(9), 4, seed(5));
    const ring = [...g.keys()];
    ring.forEach((id, pos) => expect(g.get(id)).toEqual([-2, -1, 1, 2].map((d) => ring[(pos + d + 9) % 9])));
  });

  it('is fixed by the seed and the roster, whatever order the ids come in', () => {
    const a = neighbourGraph(ids(30), 6, seed(2));
    const b = neighbourGraph([...ids(30)].reverse(), 6, seed(2));
    const c = neighbourGraph(ids(30), 6, seed(3));
    for (const id of ids(30)) expect([...b.get(id)!].sort()).toEqual([...a.get(id)!].sort());
    expect(ids(30).some((id) => [...c.get(id)!].sort().join() !== [...a.get(id)!].sort().join())).toBe(true);
  });

  it('is complete for k = n - 1 and refuses impossible degrees', () => {
    const g = neighbourGraph(ids(6), 5, seed(4));
    for (const [u, nb] of g) expect([...nb].sort()).toEqual(ids(6).filter((v) => v !== u));
    expect(() => neighbourGraph(ids(10), 5, seed(1))).toThrow(/even/);
    expect(() => neighbourGraph(ids(10), 10, seed(1))).toThrow(/\[2, 9\]/);
    expect(() => neighbourGraph(ids(10), 0, seed(1))).toThrow(
      'graph degree k must be an integer in [2, 9] for 10 clients, got 0',
    );
    expect(() => neighbourGraph(ids(10), 2.5, seed(1))).toThrow(
      'graph degree k must be an integer in [2, 9] for 10 clients, got 2.5',
    );
    expect(() => neighbourGraph(['a', 'a', 'b'], 2, seed(1))).toThrow(/unique/);
  });
});

describe('default k and threshold', () => {
  function exactBelow(k: number, p: number, t: number): number {
    let s = 0;
    for (let i = 0; i < t; i++) {
      let c = 1;
      for (let j = 0; j < i; j++) c = (c * (k - j)) / (j + 1);
      s += c * p ** i * (1 - p) ** (k - i);
    }
    return s;
  }

  it('computes binomial tails', () => {
    for (const [k, p, t] of [
      [12, 0.7, 6],
      [20, 0.05, 3],
      [9, 0.9, 5],
      [30, 0.5, 15],
    ]) {
      expect(binomialBelow(k, p, t)).toBeCloseTo(exactBelow(k, p, t), 12);
    }
  });

  it('computes the edges of binomial tails exactly', () => {
    expect(binomialBelow(5, 0.5, 0)).toBe(0);
    expect(binomialBelow(5, 0.5, -2)).toBe(0);
    expect(binomialBelow(5, 0.5, 5)).toBe(31 / 32);
    expect(binomialBelow(5, 0.5, 6)).toBe(1);
    expect(binomialBelow(5, 0.5, 8)).toBe(1);
    // p = 0: all mass at 0 (no 0 * log 0 = NaN term); p = 1: none below k.
    expect(binomialBelow(4, 0, 1)).toBe(1);
    expect(binomialBelow(4, 1, 4)).toBe(0);
  });

  it('needs 2t - k colluders against an active coordinator, and a floor that makes that at least 2', () => {
    expect(activeCollusionBound(12, 8)).toBe(4);
    expect(activeCollusionBound(5, 4)).toBe(3);
    expect(minimumThreshold(12)).toBe(7);
    expect(minimumThreshold(5)).toBe(4);
    expect(activeCollusionBound(12, minimumThreshold(12))).toBe(2);
  });

  it('refuses assumptions outside (0, 1) and fewer than 3 clients, by name', () => {
    for (const [key, value] of [
      ['dropout', 0],
      ['corrupt', 1],
      ['failure', -1],
      ['exposure', NaN],
    ] as const) {
      expect(() => defaultGraphParams(10, { ...DEFAULT_ASSUMPTIONS, [key]: value })).toThrow(
        `assumption ${key} must be in (0, 1), got ${value}`,
      );
    }
    expect(defaultGraphParams(3)).toEqual({ k: 2, threshold: 2 });
    expect(() => defaultGraphParams(3.5)).toThrow('secure aggregation needs at least 3 clients, got 3.5');
    expect(() => defaultGraphParams(300, { ...DEFAULT_ASSUMPTIONS, dropout: 0.9 })).toThrow(
      'no degree up to 254 meets the assumptions for 300 clients; relax them or set k and threshold',
    );
  });

  it('meets the stated targets with the smallest even degree, all-to-all for small n', () => {
    const a = DEFAULT_ASSUMPTIONS;
    const meets = (n: number, k: number, t: number) =>
      n * binomialBelow(k, 1 - a.dropout, t) <= a.failure &&
      t >= minimumThreshold(k) &&
      n * (1 - binomialBelow(k, a.corrupt, activeCollusionBound(k, t))) <= a.exposure;
    for (const n of [3, 4, 10, 25, 50, 100, 200, 1000, 10000]) {
      const { k, threshold } = defaultGraphParams(n);
      expect(k).toBeLessThanOrEqual(n - 1);
      expect(threshold).toBeGreaterThanOrEqual(minimumThreshold(k));
      expect(activeCollusionBound(k, threshold)).toBeGreaterThanOrEqual(2);
      expect(threshold).toBeLessThanOrEqual(k);
      if (k === n - 1) continue;
      expect(k % 2).toBe(0);
      expect(meets(n, k, threshold)).toBe(true);
      for (let t = 2; t <= k - 2; t++) expect(meets(n, k - 2, t), `n=${n} k=${k - 2} t=${t}`).toBe(false);
    }
    expect(defaultGraphParams(4)).toEqual({ k: 3, threshold: 3 });
    expect(defaultGraphParams(6)).toEqual({ k: 5, threshold: 4 });
    expect(defaultGraphParams(1000).k).toBeLessThan(60);
  });

  it('never trades correctness for privacy: with rare corruption a small degree is private but must still be correct', () => {
    const a = { ...DEFAULT_ASSUMPTIONS, corrupt: 1e-5 };
    for (const n of [20, 50, 200]) {
      const { k, threshold } = defaultGraphParams(n, a);
      expect(k).toBeLessThanOrEqual(n - 1);
      expect(n * binomialBelow(k, 1 - a.dropout, threshold)).toBeLessThanOrEqual(a.failure);
      expect(threshold).toBeGreaterThanOrEqual(minimumThreshold(k));
    }
  });

  it('falls back to all-to-all up to 255 clients (degree 254, the most GF(256) Shamir shares allow)', () => {
    const harsh = { ...DEFAULT_ASSUMPTIONS, dropout: 0.9 };
    expect(defaultGraphParams(255, harsh).k).toBe(254);
    expect(() => defaultGraphParams(256, harsh)).toThrow('no degree up to 254 meets the assumptions for 256 clients');
  });

  it('accepts a target met exactly: a tail probability equal to failure or exposure is within it', () => {
    const n = 100;
    const a = DEFAULT_ASSUMPTIONS;
    const { k, threshold: t } = defaultGraphParams(n);
    expect({ k, t }).toEqual({ k: 42, t: 28 });
    const failure = n * binomialBelow(k, 1 - a.dropout, t);
    const exposure = n * (1 - binomialBelow(k, a.corrupt, activeCollusionBound(k, t)));
    expect(defaultGraphParams(n, { ...a, failure })).toEqual({ k, threshold: t });
    expect(defaultGraphParams(n, { ...a, exposure })).toEqual({ k, threshold: t });
    // One ulp stricter and (42, 28) no longer meets the target.
    expect(defaultGraphParams(n, { ...a, failure: failure * (1 - 2 ** -52) })).not.toEqual({ k, threshold: t });
    expect(defaultGraphParams(n, { ...a, exposure: exposure * (1 - 2 ** -52) })).not.toEqual({ k, threshold: t });
  });

  it('tries even degrees only below n - 1: an even n whose first good degree would be n falls back to k = n - 1', () => {
    // Degree 2 is not private (both neighbours corrupt: 4 x 0.1^2 > 0.001); degree 4 with t = 4 would
    // meet every target, but 4 clients have only 3 others.
    const a = { dropout: 0.001, corrupt: 0.1, failure: 0.1, exposure: 0.001 };
    expect(4 * binomialBelow(4, 1 - a.dropout, 4)).toBeLessThanOrEqual(a.failure);
    expect(4 * (1 - binomialBelow(4, a.corrupt, activeCollusionBound(4, 4)))).toBeLessThanOrEqual(a.exposure);
    expect(defaultGraphParams(4, a)).toEqual({ k: 3, threshold: 3 });
  });

  it('tries degrees up to 254 and no further, however many clients', () => {
    const a = DEFAULT_ASSUMPTIONS;
    const meets = (n: number, k: number, t: number, d: number) =>
      n * binomialBelow(k, 1 - d, t) <= a.failure &&
      t >= minimumThreshold(k) &&
      n * (1 - binomialBelow(k, a.corrupt, activeCollusionBound(k, t))) <= a.exposure;
    // At 29.4% dropout 300 clients need degree 254 exactly; at 29.5% degree 256, which GF(256) Shamir cannot split for.
    expect(defaultGraphParams(300, { ...a, dropout: 0.294 })).toEqual({ k: 254, threshold: 146 });
    expect(meets(300, 254, 146, 0.294)).toBe(true);
    for (let t = 2; t <= 252; t++) expect(meets(300, 252, t, 0.294)).toBe(false);
    expect(meets(300, 256, 147, 0.295)).toBe(true);
    for (let t = 2; t <= 254; t++) expect(meets(300, 254, t, 0.295)).toBe(false);
    expect(() => defaultGraphParams(300, { ...a, dropout: 0.295 })).toThrow(
      'no degree up to 254 meets the assumptions for 300 clients; relax them or set k and threshold',
    );
  });

  it('needs more neighbours to survive more dropouts', () => {
    const high = defaultGraphParams(200, { ...DEFAULT_ASSUMPTIONS, dropout: 0.3 });
    expect(high.k).toBeGreaterThan(defaultGraphParams(200).k);
    expect(200 * binomialBelow(high.k, 0.7, high.threshold)).toBeLessThanOrEqual(1e-3);
  });

  it('takes configured values, validated', () => {
    expect(resolveGraphParams(100, { k: 12, threshold: 8 })).toEqual({ k: 12, threshold: 8 });
    expect(resolveGraphParams(100, { k: 12 }).threshold).toBeGreaterThanOrEqual(7);
    // 2t - k = 1: one colluding neighbour and an active coordinator would unmask a client.
    expect(() => resolveGraphParams(100, { k: 12, threshold: 6 })).toThrow(/\[7, k = 12\].*colluding/);
    expect(() => resolveGraphParams(6, { threshold: 3 })).toThrow(/\[4, k = 5\]/);
    expect(resolveGraphParams(5, { k: 40 }).k).toBe(4);
    expect(() => resolveGraphParams(100, { k: 12, threshold: 13 })).toThrow(/threshold/);
    expect(resolveGraphParams(100, { k: 12, threshold: 12 })).toEqual({ k: 12, threshold: 12 });
    expect(() => resolveGraphParams(100, { k: 12, threshold: 6 })).toThrow(
      'threshold must be an integer in [7, k = 12], got 6: below 7, fewer than 2 colluding neighbours would let an active coordinator unmask a client (2t - k >= 2)',
    );
    expect(() => resolveGraphParams(100, { k: 11 })).toThrow(/even/);
    expect(() => resolveGraphParams(2)).toThrow(/at least 3 clients/);
  });
});
