import type { Rng } from './random.js';

/**
 * Seeded samplers from the distributions the experiments need (normal for attack noise,
 * gamma/Dirichlet for non-IID partitions). Built on the non-cryptographic Rng: never use them for
 * DP noise or masks.
 */

/** A 32-bit seed for an independent stream (e.g. one per round) derived from a base seed. */
export function deriveSeed(seed: number, stream: number): number {
  // murmur3's finalizer over the mixed pair: neighbouring streams get unrelated seeds.
  let h = (seed >>> 0) ^ Math.imul(stream >>> 0, 0x9e3779b1);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** One N(0, 1) draw (Box-Muller; the second value is dropped to keep streams simple). */
export function standardNormal(rng: Rng): number {
  const u1 = 1 - rng(); // (0, 1]: log stays finite
  const u2 = rng();
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
}

/**
 * log of one Gamma(shape, 1) draw (Marsaglia & Tsang 2000). Returned as a log because for
 * shape << 1 the draw itself routinely underflows to 0, which would break Dirichlet normalisation.
 */
export function logGammaSample(shape: number, rng: Rng): number {
  if (!(shape > 0) || !Number.isFinite(shape)) throw new Error(`gamma shape must be a positive number, got ${shape}`);
  if (shape < 1) {
    // Gamma(a) = Gamma(a + 1) * U^(1/a)
    return logGammaSample(shape + 1, rng) + Math.log(1 - rng()) / shape;
  }
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    const x = standardNormal(rng);
    const t = 1 + c * x;
    if (t <= 0) continue;
    const v = t * t * t;
    const u = rng();
    if (u < 1 - 0.0331 * x * x * x * x || Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) {
      return Math.log(d * v);
    }
  }
}

/** One draw from Dirichlet(alphas): non-negative proportions summing to 1. */
export function dirichletSample(alphas: readonly number[], rng: Rng): Float64Array {
  if (alphas.length === 0) throw new Error('Dirichlet needs at least one concentration parameter');
  const logs = alphas.map((a) => logGammaSample(a, rng));
  const max = Math.max(...logs);
  const p = Float64Array.from(logs, (l) => Math.exp(l - max));
  const sum = p.reduce((s, x) => s + x, 0);
  for (let i = 0; i < p.length; i++) p[i] /= sum;
  return p;
}
