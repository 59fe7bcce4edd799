import type { ClientUpdate } from './types.js';

/** Sorts the first n values of buf ascending; insertion sort wins for the handful of clients per round. */
function sortPrefix(buf: Float64Array, n: number): void {
  if (n > 32) {
    buf.subarray(0, n).sort();
    return;
  }
  for (let i = 1; i < n; i++) {
    const v = buf[i];
    let j = i - 1;
    while (j >= 0 && buf[j] > v) {
      buf[j + 1] = buf[j];
      j--;
    }
    buf[j + 1] = v;
  }
}

/**
 * Coordinate-wise aggregation: for every coordinate, `reduce` receives that coordinate's values
 * across `vectors`, sorted ascending (a reused buffer: read it, don't keep it).
 */
export function reduceSortedColumns(
  vectors: readonly Float32Array[],
  length: number,
  reduce: (sorted: Float64Array) => number,
): Float32Array {
  const n = vectors.length;
  const column = new Float64Array(n);
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) {
    for (let k = 0; k < n; k++) column[k] = vectors[k][i];
    sortPrefix(column, n);
    out[i] = reduce(column);
  }
  return out;
}

/** np.median of a sorted array: the middle value, or the mean of the two middle values. */
export function medianOfSorted(sorted: Float64Array): number {
  const n = sorted.length;
  const mid = n >> 1;
  return n % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export function deltasOf(updates: readonly ClientUpdate[]): Float32Array[] {
  return updates.map((u) => u.delta);
}
