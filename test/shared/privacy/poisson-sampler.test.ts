import { describe, expect, it } from 'vitest';
import { seededRandomWords } from '../../../shared/privacy/gaussian.js';
import { PoissonSampler } from '../../../shared/privacy/poisson-sampler.js';
import { deriveSeed } from '../../../shared/random-distributions.js';

const ids = Array.from({ length: 10_000 }, (_, i) => `client-${i}`);
const sd = Math.sqrt(10_000 * 0.3 * 0.7);

describe('PoissonSampler', () => {
  it('includes each client independently with probability q', () => {
    const sampler = new PoissonSampler({ rate: 0.3, seed: 4 });
    const counts = new Map<string, number>();
    for (let round = 0; round < 20; round++) {
      const picked = sampler.select(ids, round);
      expect(Math.abs(picked.length - 3_000)).toBeLessThan(4 * sd);
      for (const id of picked) counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    // Per-client inclusion over 20 rounds is Binomial(20, 0.3): mean 6, variance 4.2.
    const perClient = ids.map((id) => counts.get(id) ?? 0);
    const mean = perClient.reduce((a, b) => a + b, 0) / ids.length;
    const variance = perClient.reduce((a, b) => a + (b - mean) ** 2, 0) / ids.length;
    expect(Math.abs(mean - 6)).toBeLessThan(0.05);
    expect(Math.abs(variance - 4.2)).toBeLessThan(0.25);
    expect(sampler.expectedCount(ids.length)).toBe(3_000);
  });

  it('is reproducible with a seed regardless of id order, and varies by round', () => {
    const sampler = new PoissonSampler({ rate: 0.1, seed: 9 });
    expect(sampler.select([...ids].reverse(), 3)).toEqual(sampler.select(ids, 3));
    expect(sampler.select(ids, 3)).not.toEqual(sampler.select(ids, 4));
  });

  it('samples from the CSPRNG without a seed', () => {
    const picked = new PoissonSampler({ rate: 0.3 }).select(ids, 0);
    expect(Math.abs(picked.length - 3_000)).toBeLessThan(6 * sd);
    expect(new PoissonSampler({ rate: 1 }).select(ids, 0)).toHaveLength(ids.length);
  });

  it('without a seed, the same round gives a fresh sample each time', () => {
    const sampler = new PoissonSampler({ rate: 0.5 });
    expect(sampler.name).toBe('poisson');
    // Two equal samples of 10,000 coin flips: probability 2^-10000.
    expect(sampler.select(ids, 0)).not.toEqual(sampler.select(ids, 0));
  });

  it('includes a client when its 32-bit draw is below q * 2^32, and not when it equals it', () => {
    const few = ['a', 'b', 'c', 'd'];
    const draws = new Uint32Array(few.length);
    seededRandomWords(deriveSeed(21, 7))(draws);
    // q set exactly at client 'c''s draw: 'c' is out, every client drawing less is in.
    const q = draws[2] / 2 ** 32;
    const expected = few.filter((_, i) => draws[i] < draws[2]);
    expect(new PoissonSampler({ rate: q, seed: 21 }).select(few, 7)).toEqual(expected);
    const justAbove = (draws[2] + 1) / 2 ** 32;
    expect(new PoissonSampler({ rate: justAbove, seed: 21 }).select(few, 7)).toEqual(
      few.filter((_, i) => draws[i] <= draws[2]),
    );
  });

  it('rejects a rate outside (0, 1]', () => {
    expect(() => new PoissonSampler({ rate: 0 })).toThrow(/Poisson sampling rate must be in \(0, 1\], got 0/);
    expect(() => new PoissonSampler({ rate: 1.2 })).toThrow(/got 1.2/);
  });
});
