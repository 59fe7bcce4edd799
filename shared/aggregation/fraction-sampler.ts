import { seededRng } from '../random.js';
import { deriveSeed } from '../random-distributions.js';
import type { Sampler } from './types.js';

/** Flower's defaults: every available client, but at least 2. */
export const SAMPLER_DEFAULTS = { fraction: 1.0, minClients: 2 } as const;

export interface FractionSamplerOptions {
  /** Fraction of the available clients to select each round. */
  fraction?: number;
  /** Never select fewer (Flower's min_fit_clients / min_evaluate_clients). */
  minClients?: number;
  /** Never select more (caps a large fleet's round size). */
  maxClients?: number;
  /** Clients that must be connected before a round can start (Flower's min_available_clients); at least minClients. */
  minAvailable?: number;
  seed?: number;
}

/**
 * Selects max(floor(fraction * available), minClients) clients, capped at maxClients, uniformly at
 * random. The choice depends only on the seed, the round and the set of available ids (not their
 * order), so a rerun or a resumed coordinator picks the same clients.
 */
export class FractionSampler implements Sampler {
  readonly name = 'fraction';
  readonly fraction: number;
  readonly minClients: number;
  readonly maxClients: number;
  readonly minAvailable: number;
  readonly seed: number;

  constructor(options: FractionSamplerOptions = {}) {
    this.fraction = options.fraction ?? SAMPLER_DEFAULTS.fraction;
    this.minClients = options.minClients ?? SAMPLER_DEFAULTS.minClients;
    this.maxClients = options.maxClients ?? Number.POSITIVE_INFINITY;
    this.minAvailable = Math.max(options.minAvailable ?? this.minClients, this.minClients);
    this.seed = options.seed ?? 0;
    if (!(this.fraction > 0 && this.fraction <= 1))
      throw new Error(`sampler fraction must be in (0, 1], got ${this.fraction}`);
    if (!Number.isInteger(this.minClients) || this.minClients < 1) {
      throw new Error(`sampler minClients must be a positive integer, got ${this.minClients}`);
    }
    if (
      this.maxClients !== Number.POSITIVE_INFINITY &&
      (!Number.isInteger(this.maxClients) || this.maxClients < this.minClients)
    ) {
      throw new Error(
        `sampler maxClients must be an integer >= minClients (${this.minClients}), got ${this.maxClients}`,
      );
    }
    if (!Number.isInteger(this.minAvailable))
      throw new Error(`sampler minAvailable must be an integer, got ${this.minAvailable}`);
    if (!Number.isInteger(this.seed)) throw new Error(`sampler seed must be an integer, got ${this.seed}`);
  }

  /** How many clients a round selects from `available`; throws while fewer than minAvailable are connected. */
  sampleSize(available: number): number {
    if (available < this.minAvailable) {
      throw new Error(`need at least ${this.minAvailable} available clients to start a round, have ${available}`);
    }
    return Math.min(Math.max(Math.floor(available * this.fraction), this.minClients), this.maxClients, available);
  }

  select(available: readonly string[], round: number): string[] {
    if (!Number.isInteger(round) || round < 0) throw new Error(`round must be a non-negative integer, got ${round}`);
    const ids = [...available].sort();
    for (let i = 1; i < ids.length; i++) {
      if (ids[i] === ids[i - 1]) throw new Error(`client id ${ids[i]} is listed twice among the available clients`);
    }
    const count = this.sampleSize(ids.length);
    const rng = seededRng(deriveSeed(this.seed, round));
    // Partial Fisher-Yates: the first `count` slots end up a uniform sample.
    for (let i = 0; i < count; i++) {
      const j = i + Math.floor(rng() * (ids.length - i));
      [ids[i], ids[j]] = [ids[j], ids[i]];
    }
    return ids.slice(0, count).sort();
  }
}
