import { describe, expect, it } from 'vitest';
import { FractionSampler } from '../../../shared/aggregation/fraction-sampler.js';

const ids = (n: number) => Array.from({ length: n }, (_, i) => `client-${i}`);

describe('FractionSampler', () => {
  it("defaults to Flower's: all available clients, at least 2", () => {
    const s = new FractionSampler();
    expect(s.sampleSize(10)).toBe(10);
    expect(s.minAvailable).toBe(2);
    expect(() => s.sampleSize(1)).toThrow(/need at least 2 available clients to start a round, have 1/);
  });

  it('selects max(floor(fraction * n), minClients), capped at maxClients', () => {
    expect(new FractionSampler({ fraction: 0.3 }).sampleSize(10)).toBe(3);
    expect(new FractionSampler({ fraction: 0.1 }).sampleSize(10)).toBe(2);
    expect(new FractionSampler({ maxClients: 5 }).sampleSize(10)).toBe(5);
    expect(new FractionSampler({ minClients: 3, minAvailable: 2 }).minAvailable).toBe(3);
    expect(new FractionSampler({ minClients: 1, fraction: 0.1 }).sampleSize(5)).toBe(1);
    expect(new FractionSampler({ minClients: 3, maxClients: 3 }).sampleSize(10)).toBe(3);
    expect(new FractionSampler().sampleSize(2)).toBe(2);
    expect(new FractionSampler().name).toBe('fraction');
  });

  it('is a deterministic function of seed, round and the set of available ids', () => {
    const s = new FractionSampler({ fraction: 0.3, seed: 5 });
    const first = s.select(ids(10), 4);
    expect(first).toHaveLength(3);
    expect(first).toEqual([...first].sort());
    expect(new Set(first).size).toBe(3);
    expect(first.every((id) => ids(10).includes(id))).toBe(true);
    expect(new FractionSampler({ fraction: 0.3, seed: 5 }).select([...ids(10)].reverse(), 4)).toEqual(first);
    const rounds = new Set(Array.from({ length: 10 }, (_, r) => s.select(ids(10), r).join()));
    expect(rounds.size).toBeGreaterThan(1);
    const seeds = new Set(
      Array.from({ length: 10 }, (_, seed) => new FractionSampler({ fraction: 0.3, seed }).select(ids(10), 4).join()),
    );
    expect(seeds.size).toBeGreaterThan(1);
  });

  it('gives every client about the same chance', () => {
    const s = new FractionSampler({ fraction: 0.3, seed: 1 });
    const counts = new Map<string, number>();
    for (let r = 0; r < 2000; r++) for (const id of s.select(ids(10), r)) counts.set(id, (counts.get(id) ?? 0) + 1);
    // expected 600 each; binomial sd ~20
    for (const id of ids(10)) expect(Math.abs((counts.get(id) ?? 0) - 600)).toBeLessThan(90);
  });

  it('rejects bad options and input', () => {
    expect(() => new FractionSampler({ fraction: 0 })).toThrow(/fraction must be in \(0, 1\]/);
    expect(() => new FractionSampler({ fraction: 1.5 })).toThrow('sampler fraction must be in (0, 1], got 1.5');
    for (const minClients of [0, 1.5]) {
      expect(() => new FractionSampler({ minClients })).toThrow(
        `sampler minClients must be a positive integer, got ${minClients}`,
      );
    }
    expect(() => new FractionSampler({ minAvailable: 2.5 })).toThrow(
      'sampler minAvailable must be an integer, got 2.5',
    );
    expect(() => new FractionSampler({ seed: 0.5 })).toThrow('sampler seed must be an integer, got 0.5');
    expect(() => new FractionSampler({ minClients: 3, maxClients: 2 })).toThrow(
      /maxClients must be an integer >= minClients/,
    );
    expect(() => new FractionSampler().select(['a', 'b', 'a'], 0)).toThrow(/a is listed twice/);
    expect(() => new FractionSampler().select(['a', 'b'], -1)).toThrow(/round must be/);
  });
});
