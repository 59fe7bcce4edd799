/**
 * Poisson sampling: each available client takes part in a round independently with probability q.
 * This is the sampling the RDP accountant assumes; a fixed-size uniform sample is not covered by
 * the same bound. Clients that are offline have inclusion probability below q, which only helps
 * them (RDP grows with q).
 */
import type { Sampler } from '../aggregation/types.js';
import { deriveSeed } from '../random-distributions.js';
import { cryptoRandomWords, seededRandomWords, type RandomWords } from './gaussian.js';

export interface PoissonSamplerOptions {
  /** q: every client's inclusion probability per round. */
  rate: number;
  /**
   * For reproducible simulations only: the same seed and round give the same sample. Without it
   * the sample comes from the CSPRNG, so nobody who lacks the coordinator's view can predict who
   * was sampled (amplification by sampling rests on that).
   */
  seed?: number;
}

export class PoissonSampler implements Sampler {
  readonly name = 'poisson';
  readonly rate: number;
  private readonly seed: number | undefined;

  constructor(options: PoissonSamplerOptions) {
    if (!(options.rate > 0 && options.rate <= 1))
      throw new Error(`Poisson sampling rate must be in (0, 1], got ${options.rate}`);
    this.rate = options.rate;
    this.seed = options.seed;
  }

  /** n for a round: the expected number of sampled clients among `available`. */
  expectedCount(available: number): number {
    return Math.max(1, Math.round(this.rate * available));
  }

  select(available: readonly string[], round: number): string[] {
    const words: RandomWords =
      this.seed === undefined ? cryptoRandomWords : seededRandomWords(deriveSeed(this.seed, round));
    // Sorted so that a seeded sample does not depend on the order the ids arrive in.
    const ids = [...available].sort();
    const draws = new Uint32Array(ids.length);
    words(draws);
    const threshold = this.rate * 4294967296;
    return ids.filter((_, i) => draws[i] < threshold);
  }
}
