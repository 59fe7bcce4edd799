/**
 * Bounds on the size of updates, so that one client can neither push the global model to
 * infinity nor, in a typical round, far away from where the honest clients move it.
 *
 * The rule (plaintext rounds, where the coordinator sees each update):
 * - an update whose L2 norm exceeds `max` is refused at receipt;
 * - once MEDIAN_AFTER updates have been accepted in a round, an update whose norm exceeds
 *   `maxToMedian` times the median norm accepted so far is refused at receipt;
 * - every round's aggregated update (any protocol) and the step the server optimizer makes from
 *   it must be finite with norm <= `max`, or the round fails and the model stays as it was.
 *
 * Honest updates of the seed CNN measured 0.2 to 20 (1 epoch, 100 to 8,000 examples, SGD or
 * Adam), and honest clients of one round differed by up to 16x, hence the defaults.
 */
export interface UpdateNormLimits {
  /** Largest accepted L2 norm of one update and of a round's aggregate. */
  max: number;
  /** Largest accepted ratio of an update's norm to the median norm of the round's accepted updates. */
  maxToMedian: number;
}

export const DEFAULT_UPDATE_NORM_LIMITS: UpdateNormLimits = { max: 1_000, maxToMedian: 100 };

/** Accepted updates needed before the median rule applies: with 3, one early outlier cannot set the median. */
export const MEDIAN_AFTER = 3;

/** Euclidean norm accumulated in float64; Infinity (never NaN) when a value is not finite. */
export function updateNorm(values: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) return Number.POSITIVE_INFINITY;
    sum += v * v;
  }
  return Math.sqrt(sum);
}

function median(sorted: readonly number[]): number {
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** The norms accepted so far in one round, and the receipt check against them. */
export class RoundNorms {
  /** Ascending. */
  private readonly accepted: number[] = [];

  constructor(private readonly limits: UpdateNormLimits) {}

  /** Why an update of this norm is refused, or undefined when it may be accepted. */
  problem(norm: number): string | undefined {
    const { max, maxToMedian } = this.limits;
    if (!(norm <= max))
      return `update has L2 norm ${norm.toPrecision(4)}, above the limit ${max} (rounds.maxUpdateNorm)`;
    if (this.accepted.length >= MEDIAN_AFTER) {
      const m = median(this.accepted);
      if (norm > maxToMedian * m) {
        return (
          `update has L2 norm ${norm.toPrecision(4)}, more than ${maxToMedian} times the median ${m.toPrecision(4)} ` +
          `of the ${this.accepted.length} updates accepted this round (rounds.maxUpdateNormToMedian)`
        );
      }
    }
    return undefined;
  }

  accept(norm: number): void {
    const at = this.accepted.findIndex((n) => n > norm);
    this.accepted.splice(at < 0 ? this.accepted.length : at, 0, norm);
  }
}

/** Why a round's aggregated update must not be applied, or undefined when it may. */
export function aggregateProblem(delta: Float32Array, max: number): string | undefined {
  const bad = delta.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) return `the aggregated update has a non-finite value at index ${bad}`;
  const norm = updateNorm(delta);
  if (norm > max)
    return `the aggregated update has L2 norm ${norm.toPrecision(4)}, above the limit ${max} (rounds.maxUpdateNorm)`;
  return undefined;
}

/** Why the server optimizer's move from `before` to `after` must not be committed, or undefined when it may. */
export function stepProblem(before: Float32Array, after: Float32Array, max: number): string | undefined {
  const bad = after.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) return `the new weights have a non-finite value at index ${bad}`;
  let sum = 0;
  for (let i = 0; i < after.length; i++) sum += (after[i] - before[i]) ** 2;
  const norm = Math.sqrt(sum);
  if (norm > max)
    return `the server optimizer's step has L2 norm ${norm.toPrecision(4)}, above the limit ${max} (rounds.maxUpdateNorm)`;
  return undefined;
}
