/** A labelled classification dataset held as flat typed arrays (row-major features). */
export interface Dataset {
  /** n * featureSize values. */
  x: Float32Array;
  /** n class indices. */
  y: Int32Array;
  n: number;
  /** Shape of one example, e.g. [28, 28, 1] or [13]. */
  inputShape: number[];
  numClasses: number;
}

export function featureSize(ds: Pick<Dataset, 'inputShape'>): number {
  return ds.inputShape.reduce((a, b) => a * b, 1);
}

/** A new dataset with the examples at `indices`, in that order. */
export function subset(ds: Dataset, indices: ArrayLike<number>): Dataset {
  const f = featureSize(ds);
  const x = new Float32Array(indices.length * f);
  const y = new Int32Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const src = indices[i];
    x.set(ds.x.subarray(src * f, (src + 1) * f), i * f);
    y[i] = ds.y[src];
  }
  return { x, y, n: indices.length, inputShape: [...ds.inputShape], numClasses: ds.numClasses };
}

/** Contiguous shard i of n (0-based), sizes differing by at most one. */
export function shard(ds: Dataset, i: number, n: number): Dataset {
  if (!Number.isInteger(n) || n < 1) throw new Error(`shard count must be a positive integer, got ${n}`);
  if (!Number.isInteger(i) || i < 0 || i >= n) throw new Error(`shard index must be in 0..${n - 1}, got ${i}`);
  const start = Math.floor((i * ds.n) / n);
  const end = Math.floor(((i + 1) * ds.n) / n);
  const idx = new Int32Array(end - start);
  for (let k = 0; k < idx.length; k++) idx[k] = start + k;
  return subset(ds, idx);
}
