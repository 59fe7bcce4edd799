import { describe, expect, it } from 'vitest';
import { deriveSeed, dirichletSample, logGammaSample, standardNormal } from '../../shared/random-distributions.js';
import { seededRng } from '../../shared/random.js';

const N = 20_000;
function moments(draw: () => number): { mean: number; variance: number } {
  let s = 0;
  let s2 = 0;
  for (let i = 0; i < N; i++) {
    const x = draw();
    s += x;
    s2 += x * x;
  }
  const mean = s / N;
  return { mean, variance: s2 / N - mean * mean };
}

describe('random distributions', () => {
  it('derives distinct, repeatable seeds per stream', () => {
    expect(deriveSeed(1, 2)).toBe(deriveSeed(1, 2));
    expect(new Set([0, 1, 2, 3].map((r) => deriveSeed(1, r))).size).toBe(4);
    expect(deriveSeed(1, 0)).not.toBe(deriveSeed(2, 0));
  });

  it('draws standard normals', () => {
    const rng = seededRng(1);
    const { mean, variance } = moments(() => standardNormal(rng));
    expect(Math.abs(mean)).toBeLessThan(0.03);
    expect(Math.abs(variance - 1)).toBeLessThan(0.05);
  });

  it('draws gamma variates with mean and variance equal to the shape', () => {
    for (const shape of [0.3, 2.5]) {
      const rng = seededRng(2);
      const { mean, variance } = moments(() => Math.exp(logGammaSample(shape, rng)));
      expect(Math.abs(mean - shape) / shape).toBeLessThan(0.05);
      expect(Math.abs(variance - shape) / shape).toBeLessThan(0.1);
    }
    expect(() => logGammaSample(0, seededRng(1))).toThrow(/positive/);
  });

  it('draws Dirichlet proportions that sum to one, even for tiny alpha', () => {
    const rng = seededRng(3);
    let first = 0;
    for (let i = 0; i < 2000; i++) {
      const p = dirichletSample([1, 2, 7], rng);
      expect(p.reduce((s, x) => s + x, 0)).toBeCloseTo(1, 12);
      first += p[0];
    }
    expect(first / 2000).toBeCloseTo(0.1, 1.5); // E[p_0] = 1 / (1 + 2 + 7)
    const tiny = dirichletSample(new Array(10).fill(0.001), rng);
    expect(tiny.every((x) => Number.isFinite(x) && x >= 0)).toBe(true);
    expect(tiny.reduce((s, x) => s + x, 0)).toBeCloseTo(1, 12);
  });
});
