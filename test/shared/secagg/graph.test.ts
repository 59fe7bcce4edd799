import { describe, expect, it } from 'vitest';
import { neighbourGraph } from '../../../shared/secagg/graph.js';
import { activeCollusionBound, binomialBelow, defaultGraphParams, DEFAULT_ASSUMPTIONS, minimumThreshold, resolveGraphParams } from '../../../shared/secagg/params.js';

const ids = (n: number) => Array.from({ length: n }, (_, i) => `c${i}`);
const seed = (b: number) => new Uint8Array(32).fill(b);

describe('random Harary graph', () => {
  it('is k-regular and symmetric, without self-loops', () => {
    for (const [n, k] of [[7, 2], [20, 6], [51, 12], [9, 8]]) {
      const g = neighbourGraph(ids(n), k, seed(1));
      expect(g.size).toBe(n);
      for (const [u, nb] of g) {
        expect(new Set(nb).size).toBe(k);
        expect(nb).not.toContain(u);
        for (const v of nb) expect(g.get(v)).toContain(u);
      }
    }
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
    for (const [k, p, t] of [[12, 0.7, 6], [20, 0.05, 3], [9, 0.9, 5], [30, 0.5, 15]]) {
      expect(binomialBelow(k, p, t)).toBeCloseTo(exactBelow(k, p, t), 12);
    }
  });

  it('meets the stated targets with the smallest even degree, all-to-all for small n', () => {
    const a = DEFAULT_ASSUMPTIONS;
    const meets = (n: number, k: number, t: number) =>
      n * binomialBelow(k, 1 - a.dropout, t) <= a.failure && t >= minimumThreshold(k) && n * (1 - binomialBelow(k, a.corrupt, activeCollusionBound(k, t))) <= a.exposure;
    for (const n of [3, 4, 10, 25, 50, 100, 200, 1000, 10000]) {
      const { k, threshold } = defaultGraphParams(n);
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
    expect(() => resolveGraphParams(100, { k: 11 })).toThrow(/even/);
    expect(() => resolveGraphParams(2)).toThrow(/at least 3 clients/);
  });
});
