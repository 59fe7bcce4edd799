import type { Aggregator, ClientUpdate } from './types.js';
import { assertValidUpdates } from './validate.js';
import { WeightedMean } from './weighted-mean.js';

/** Squared Euclidean distances between all pairs, as an n x n row-major matrix. */
export function pairwiseSquaredDistances(vectors: readonly Float32Array[]): Float64Array {
  const n = vectors.length;
  const dist = new Float64Array(n * n);
  for (let a = 0; a < n; a++) {
    const va = vectors[a];
    for (let b = a + 1; b < n; b++) {
      const vb = vectors[b];
      let s = 0;
      for (let i = 0; i < va.length; i++) {
        const d = va[i] - vb[i];
        s += d * d;
      }
      dist[a * n + b] = s;
      dist[b * n + a] = s;
    }
  }
  return dist;
}

/**
 * Krum scores of `members` (indices into an n x n distance matrix) among themselves: the sum of
 * squared distances to each member's `neighbours` nearest other members. Lower is more central.
 */
export function krumScores(
  dist: Float64Array,
  n: number,
  members: readonly number[],
  neighbours: number,
): Float64Array {
  const scores = new Float64Array(members.length);
  const row = new Float64Array(members.length - 1);
  members.forEach((a, i) => {
    let k = 0;
    for (const b of members) if (b !== a) row[k++] = dist[a * n + b];
    row.sort();
    let s = 0;
    for (let j = 0; j < Math.min(neighbours, row.length); j++) s += row[j];
    scores[i] = s;
  });
  return scores;
}

/** Positions 0..scores.length-1 ordered by ascending score, ties by position (deterministic). */
export function rankByScore(scores: Float64Array): number[] {
  return Array.from(scores.keys()).sort((a, b) => scores[a] - scores[b] || a - b);
}

export interface KrumOptions {
  /** f: how many of the round's updates may be Byzantine. Flower default 0. */
  byzantine?: number;
  /** m: how many of the best-scored updates to keep; 1 is Krum, more is MultiKrum. */
  keep?: number;
}

/**
 * Indices of the `keep` updates Krum selects (Blanchard et al. 2017): each update is scored by the
 * summed squared distance to its n - f - 2 nearest others. Requires n >= 2f + 3, the bound under
 * which Krum's guarantee holds, and keep <= n - f so no more updates are kept than are honest.
 */
export function krumSelect(updates: readonly ClientUpdate[], byzantine: number, keep: number): number[] {
  assertValidUpdates(updates);
  const n = updates.length;
  if (n < 2 * byzantine + 3) {
    throw new Error(
      `Krum with ${byzantine} Byzantine clients needs at least ${2 * byzantine + 3} updates (2f + 3), got ${n}`,
    );
  }
  if (keep > n - byzantine) {
    throw new Error(`MultiKrum cannot keep ${keep} of ${n} updates when ${byzantine} may be Byzantine (keep <= n - f)`);
  }
  const dist = pairwiseSquaredDistances(updates.map((u) => u.delta));
  const members = Array.from(updates.keys());
  return rankByScore(krumScores(dist, n, members, n - byzantine - 2)).slice(0, keep);
}

/**
 * Krum / MultiKrum (Flower's Krum strategy). Krum returns the single most central delta;
 * MultiKrum returns the example-weighted mean of the `keep` most central ones, as Flower does.
 */
export class Krum implements Aggregator {
  readonly name: string;
  readonly linear = false;
  readonly byzantine: number;
  readonly keep: number;

  constructor(options: KrumOptions = {}) {
    this.byzantine = options.byzantine ?? 0;
    this.keep = options.keep ?? 1;
    if (!Number.isInteger(this.byzantine) || this.byzantine < 0) {
      throw new Error(`Krum's number of Byzantine clients must be a non-negative integer, got ${this.byzantine}`);
    }
    if (!Number.isInteger(this.keep) || this.keep < 1) {
      throw new Error(`Krum's number of updates to keep must be a positive integer, got ${this.keep}`);
    }
    this.name = this.keep === 1 ? 'krum' : 'multikrum';
  }

  aggregate(updates: readonly ClientUpdate[]): Float32Array {
    const selected = krumSelect(updates, this.byzantine, this.keep);
    if (selected.length === 1) return updates[selected[0]].delta.slice();
    return new WeightedMean().aggregate(selected.map((i) => updates[i]));
  }
}
