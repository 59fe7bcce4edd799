import type { ClientUpdate } from './types.js';

/**
 * Checks one client update against the expected vector length: a finite, non-negative example
 * count and only finite values. Returns what is wrong, or undefined when the update is usable,
 * so a coordinator can drop a bad update instead of failing the whole round.
 */
export function updateProblem(update: ClientUpdate, expectedLength: number): string | undefined {
  if (update.delta.length !== expectedLength) {
    return `update from ${update.clientId} has ${update.delta.length} values, expected ${expectedLength}`;
  }
  if (!Number.isFinite(update.numExamples) || update.numExamples < 0) {
    return `update from ${update.clientId} has an invalid number of examples (${update.numExamples})`;
  }
  const d = update.delta;
  for (let i = 0; i < d.length; i++) {
    if (!Number.isFinite(d[i])) return `update from ${update.clientId} has a non-finite value at index ${i}`;
  }
  return undefined;
}

/** Throws on an empty round or on the first unusable update; returns the common vector length. */
export function assertValidUpdates(updates: readonly ClientUpdate[]): number {
  if (updates.length === 0) throw new Error('cannot aggregate zero updates');
  const m = updates[0].delta.length;
  for (const u of updates) {
    const problem = updateProblem(u, m);
    if (problem) throw new Error(problem);
  }
  return m;
}
