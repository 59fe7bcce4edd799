import { describe, expect, it } from 'vitest';
import {
  GaussianSampler,
  addGaussianNoise,
  cryptoRandomWords,
  seededRandomWords,
} from '../../../shared/privacy/gaussian.js';

/** Sample mean, std and the fraction within one std of the mean. */
function moments(values: ArrayLike<number>, center: number, std: number) {
  let sum = 0;
  let sq = 0;
  let within = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i] - center;
    sum += v;
    sq += v * v;
    if (Math.abs(v) <= std) within++;
  }
  const n = values.length;
  const mean = sum / n;
  return { mean, std: Math.sqrt(sq / n - mean * mean), within: within / n };
}

describe('Gaussian noise', () => {
  const N = 200_000;

  it('has the configured standard deviation (seeded, 4 standard errors)', () => {
    const std = 0.37;
    const base = new Float32Array(N).fill(2);
    const noisy = addGaussianNoise(base, std, new GaussianSampler(seededRandomWords(42)));
    const m = moments(noisy, 2, std);
    // Standard errors: mean std/sqrt(N); sample std std/sqrt(2N); a proportion sqrt(p(1-p)/N).
    expect(Math.abs(m.mean)).toBeLessThan((4 * std) / Math.sqrt(N));
    expect(Math.abs(m.std - std)).toBeLessThan((4 * std) / Math.sqrt(2 * N));
    // Normal shape, not just the right variance: P(|Z| <= 1) = 0.682689.
    expect(Math.abs(m.within - 0.682689)).toBeLessThan(4 * Math.sqrt((0.6827 * 0.3173) / N));
    expect(base[0]).toBe(2);
  });

  it('is reproducible with a seed and differs across seeds', () => {
    const draw = (seed: number) =>
      addGaussianNoise(new Float32Array(8), 1, new GaussianSampler(seededRandomWords(seed)));
    expect(draw(7)).toEqual(draw(7));
    expect(draw(7)).not.toEqual(draw(8));
  });

  it('draws from the CSPRNG by default, with the right spread', () => {
    const sampler = new GaussianSampler();
    const values = Float64Array.from({ length: 20_000 }, () => sampler.standardNormal());
    const m = moments(values, 0, 1);
    // Unseeded, so a generous 6 standard errors.
    expect(Math.abs(m.std - 1)).toBeLessThan(6 / Math.sqrt(2 * values.length));
    const words = new Uint32Array(40_000);
    cryptoRandomWords(words);
    expect(new Set(words).size).toBeGreaterThan(39_900);
  });

  it('is Box-Muller over 53-bit uniforms in (0, 1], both variates of a pair used, word for word across buffer refills', () => {
    // The words the sampler reads, in order, from a twin of its seeded source.
    const stream = new Uint32Array(3 * 4_096);
    seededRandomWords(11)(stream);
    let w = 0;
    const uniform = () => ((stream[w++] >>> 5) * 2 ** 26 + (stream[w++] >>> 6) + 1) / 2 ** 53;
    const expected: number[] = [];
    while (expected.length < 5_000) {
      const r = Math.sqrt(-2 * Math.log(uniform()));
      const theta = 2 * Math.PI * uniform();
      expected.push(r * Math.cos(theta), r * Math.sin(theta));
    }
    const sampler = new GaussianSampler(seededRandomWords(11));
    // 5,000 draws read 10,000 words: two refills of the 4,096-word buffer, each used to its end.
    expect(Array.from({ length: 5_000 }, () => sampler.standardNormal())).toEqual(expected);
  });

  it('draws exactly one variate per value it noises', () => {
    const [sampler, twin] = [new GaussianSampler(seededRandomWords(3)), new GaussianSampler(seededRandomWords(3))];
    const noisy = addGaussianNoise(Float32Array.from([1, 2, 3]), 0.5, sampler);
    const draws = [twin.standardNormal(), twin.standardNormal(), twin.standardNormal()];
    expect(noisy).toEqual(Float32Array.from([1 + 0.5 * draws[0], 2 + 0.5 * draws[1], 3 + 0.5 * draws[2]]));
    expect(sampler.standardNormal()).toBe(twin.standardNormal());
  });

  it('rejects an invalid std', () => {
    const sampler = new GaussianSampler(seededRandomWords(1));
    expect(() => addGaussianNoise(new Float32Array(2), -1, sampler)).toThrow(/std/);
    expect(() => addGaussianNoise(new Float32Array(2), Number.NaN, sampler)).toThrow(/std/);
  });
});
