/**
 * The three separate concerns of a federated strategy (kept apart on purpose, unlike Flower's
 * monolithic Strategy): which clients take part (Sampler), how their updates combine
 * (Aggregator), and how the combined update moves the global model (ServerOptimizer).
 * All of them are pure over typed arrays: no I/O.
 */

/** One client's contribution to a round: the weight delta (local - global) and its weight. */
export interface ClientUpdate {
  clientId: string;
  delta: Float32Array;
  numExamples: number;
}

export interface Aggregator {
  readonly name: string;
  /**
   * True when the result is a weighted sum divided by the total weight; only such aggregators
   * can run under secure aggregation, where the coordinator sees nothing but the sum.
   */
  readonly linear: boolean;
  /** Combines the round's updates into one aggregated delta. Never mutates its input. */
  aggregate(updates: readonly ClientUpdate[]): Float32Array;
}

export interface ServerOptimizer {
  readonly name: string;
  /** New global weights from the current ones and the aggregated delta. Never mutates its input. */
  step(weights: Float32Array, aggregatedDelta: Float32Array): Float32Array;
  /** Serializable state (moments, momentum) so a restarted coordinator resumes exactly. */
  state(): Record<string, Float32Array | number>;
  restore(state: Record<string, Float32Array | number>): void;
}

export interface Sampler {
  readonly name: string;
  /** The clients chosen for `round` from those available; deterministic for a given seed. */
  select(available: readonly string[], round: number): string[];
}
