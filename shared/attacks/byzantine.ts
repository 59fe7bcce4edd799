import { z } from 'zod';
import { permutation, seededRng, type Rng } from '../random.js';
import { deriveSeed, standardNormal } from '../random-distributions.js';

/**
 * Byzantine client behaviours for robustness experiments: each turns the honest delta a client
 * computed into the one it sends. Pure functions; the noise is seeded per client and round so an
 * experiment can be repeated.
 */

export const byzantineAttackSchema = z.discriminatedUnion('kind', [
  /** Send -scale * delta: pushes the model up the loss surface. */
  z.strictObject({ kind: z.literal('sign-flip'), scale: z.number().positive().default(1) }),
  /** Send delta + N(0, std^2) per coordinate; a large std amounts to sending pure noise. */
  z.strictObject({ kind: z.literal('gaussian-noise'), std: z.number().positive() }),
  /** Send factor * delta: a boosted update that dominates a plain mean (model replacement). */
  z.strictObject({ kind: z.literal('scaling'), factor: z.number() }),
]);

export type ByzantineAttackConfig = z.output<typeof byzantineAttackSchema>;

export function signFlip(delta: Float32Array, scale = 1): Float32Array {
  return delta.map((d) => -scale * d);
}

export function gaussianNoise(delta: Float32Array, std: number, rng: Rng): Float32Array {
  return delta.map((d) => d + std * standardNormal(rng));
}

export function scaleDelta(delta: Float32Array, factor: number): Float32Array {
  return delta.map((d) => factor * d);
}

export interface ByzantineAttack {
  readonly name: string;
  /** The delta to send instead of the honest `delta` in `round`; never mutates its input. */
  apply(delta: Float32Array, round: number): Float32Array;
}

/** An attack as configured; `seed` (e.g. derived from the client index) seeds its noise. */
export function createAttack(config: ByzantineAttackConfig, seed: number): ByzantineAttack {
  switch (config.kind) {
    case 'sign-flip':
      return { name: 'sign-flip', apply: (delta) => signFlip(delta, config.scale) };
    case 'gaussian-noise':
      return {
        name: 'gaussian-noise',
        apply: (delta, round) => gaussianNoise(delta, config.std, seededRng(deriveSeed(seed, round))),
      };
    case 'scaling':
      return { name: 'scaling', apply: (delta) => scaleDelta(delta, config.factor) };
    default: {
      const never: never = config;
      throw new Error(`unknown Byzantine attack ${JSON.stringify(never)}`);
    }
  }
}

/** Which of numClients clients (0-based indices, ascending) are Byzantine: round(fraction * n), chosen by seed. */
export function chooseByzantineClients(numClients: number, fraction: number, seed: number): number[] {
  if (!Number.isInteger(numClients) || numClients < 0)
    throw new Error(`number of clients must be a non-negative integer, got ${numClients}`);
  if (!(fraction >= 0 && fraction <= 1)) throw new Error(`Byzantine fraction must be in [0, 1], got ${fraction}`);
  const count = Math.round(fraction * numClients);
  return Array.from(permutation(numClients, seededRng(seed)).subarray(0, count)).sort((a, b) => a - b);
}
