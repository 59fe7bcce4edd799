/** Helpers shared by the server optimizers' step() and restore() checks. */

export type OptimizerState = Record<string, Float32Array | number>;

export function assertSameLength(what: string, buffer: Float32Array, weights: Float32Array): void {
  if (buffer.length !== weights.length) {
    throw new Error(
      `${what} has ${buffer.length} values but the weights have ${weights.length}: state from another model?`,
    );
  }
}

export function stateVector(optimizer: string, state: OptimizerState, key: string): Float32Array {
  const v = state[key];
  if (!(v instanceof Float32Array)) throw new Error(`${optimizer} state: '${key}' must be a Float32Array`);
  return v.slice();
}

export function stateCount(optimizer: string, state: OptimizerState, key: string): number {
  const v = state[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
    throw new Error(`${optimizer} state: '${key}' must be a non-negative integer`);
  }
  return v;
}

export function assertFinitePositive(what: string, value: number): void {
  if (!(value > 0) || !Number.isFinite(value)) throw new Error(`${what} must be a positive number, got ${value}`);
}

export function assertUnitInterval(what: string, value: number): void {
  if (!(value >= 0 && value < 1)) throw new Error(`${what} must be in [0, 1), got ${value}`);
}
