import { describe, expect, it } from 'vitest';
import type { Dataset } from '../../../shared/data/dataset.js';
import {
  classCounts,
  parsePartitionConfig,
  partitionDataset,
  partitionIndices,
  type PartitionConfigInput,
} from '../../../shared/data/partition.js';

const NUM_CLASSES = 10;
// 1,000 examples, 100 per class, classes interleaved.
const labels = Int32Array.from({ length: 1000 }, (_, i) => i % NUM_CLASSES);

function split(config: PartitionConfigInput, y = labels): Int32Array[] {
  return partitionIndices(y, NUM_CLASSES, parsePartitionConfig(config));
}

/** Every index appears at most once; returns how many were used. */
function assertDisjoint(parts: Int32Array[]): number {
  const seen = new Set<number>();
  for (const p of parts)
    for (const i of p) {
      if (seen.has(i)) throw new Error(`index ${i} is in two partitions`);
      seen.add(i);
    }
  return seen.size;
}

const classesIn = (p: Int32Array) =>
  Array.from(classCounts(labels, p, NUM_CLASSES)).flatMap((c, k) => (c > 0 ? [k] : []));
const maxShare = (p: Int32Array) => Math.max(...classCounts(labels, p, NUM_CLASSES)) / p.length;
const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;

describe('IID partitions', () => {
  it('use every example once, in sizes that differ by at most one', () => {
    const parts = split({ kind: 'iid', numPartitions: 7 });
    expect(assertDisjoint(parts)).toBe(1000);
    const sizes = parts.map((p) => p.length);
    expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
  });

  it('are the same for the same seed and differ for another', () => {
    expect(split({ kind: 'iid', numPartitions: 4, seed: 1 })).toEqual(
      split({ kind: 'iid', numPartitions: 4, seed: 1 }),
    );
    expect(split({ kind: 'iid', numPartitions: 4, seed: 1 })).not.toEqual(
      split({ kind: 'iid', numPartitions: 4, seed: 2 }),
    );
  });
});

describe('Dirichlet partitions', () => {
  it('use every example once and respect the minimum partition size', () => {
    const parts = split({ kind: 'dirichlet', numPartitions: 10, alpha: 0.1, minPartitionSize: 30, seed: 3 });
    expect(assertDisjoint(parts)).toBe(1000);
    expect(Math.min(...parts.map((p) => p.length))).toBeGreaterThanOrEqual(30);
  });

  it('are skewed for small alpha and near-uniform for large alpha', () => {
    const skewed = split({ kind: 'dirichlet', numPartitions: 10, alpha: 0.1 });
    const uniform = split({ kind: 'dirichlet', numPartitions: 10, alpha: 1000 });
    expect(mean(skewed.map(maxShare))).toBeGreaterThan(0.4);
    expect(mean(uniform.map(maxShare))).toBeLessThan(0.2);
  });

  it('are reproducible from the seed', () => {
    const config = { kind: 'dirichlet', numPartitions: 5, alpha: 0.5, seed: 9 } as const;
    expect(split(config)).toEqual(split(config));
    expect(split(config)).not.toEqual(split({ ...config, seed: 10 }));
  });

  it('keep the self-balanced partitions close to the average size', () => {
    const sizes = split({ kind: 'dirichlet', numPartitions: 10, alpha: 0.5, selfBalancing: true, seed: 4 }).map(
      (p) => p.length,
    );
    // a partition stops receiving classes once above 100, so it can exceed that by at most one class (100)
    expect(Math.max(...sizes)).toBeLessThanOrEqual(200);
  });

  it('give up with a clear error when the minimum size is unreachable', () => {
    expect(() =>
      split({ kind: 'dirichlet', numPartitions: 10, alpha: 0.1, minPartitionSize: 101, maxAttempts: 5 }),
    ).toThrow(/could not give all 10 partitions at least 101 examples in 5 attempts/);
  });
});

describe('pathological partitions', () => {
  it('give each partition exactly k classes, splitting each class evenly among its holders', () => {
    const parts = split({ kind: 'pathological', numPartitions: 10, classesPerPartition: 2, seed: 5 });
    expect(parts.every((p) => classesIn(p).length === 2)).toBe(true);
    const used = assertDisjoint(parts);
    // a class held by h partitions is cut into h shares of 100 / h
    for (let c = 0; c < NUM_CLASSES; c++) {
      const holders = parts.filter((p) => classesIn(p).includes(c));
      const shares = holders.map((p) => classCounts(labels, p, NUM_CLASSES)[c]);
      if (shares.length > 0) expect(Math.max(...shares) - Math.min(...shares)).toBeLessThanOrEqual(1);
    }
    expect(used).toBeLessThanOrEqual(1000);
  });

  it('assign classes i..i+k-1 in deterministic mode and class i first in first-deterministic mode', () => {
    const det = split({
      kind: 'pathological',
      numPartitions: 12,
      classesPerPartition: 3,
      classAssignment: 'deterministic',
    });
    expect(classesIn(det[0])).toEqual([0, 1, 2]);
    expect(classesIn(det[9])).toEqual([0, 1, 9]);
    expect(classesIn(det[11])).toEqual([1, 2, 3]);
    const first = split({
      kind: 'pathological',
      numPartitions: 12,
      classesPerPartition: 2,
      classAssignment: 'first-deterministic',
    });
    first.forEach((p, i) => expect(classesIn(p)).toContain(i % NUM_CLASSES));
    // every class is someone's first class, so nothing is left out
    expect(assertDisjoint(first)).toBe(1000);
  });

  it('refuse impossible assignments', () => {
    expect(() => split({ kind: 'pathological', numPartitions: 3, classesPerPartition: 11 })).toThrow(/only 10 classes/);
    const tiny = Int32Array.from([0, 1, 1, 1, 1, 1]);
    expect(() =>
      split({ kind: 'pathological', numPartitions: 3, classesPerPartition: 2, classAssignment: 'deterministic' }, tiny),
    ).toThrow(/class 0 has 1 examples but 3 partitions need a share/);
  });
});

describe('shard partitions', () => {
  it('give each partition its shards of one label each (McMahan et al.)', () => {
    const parts = split({ kind: 'shards', numPartitions: 10, shardsPerPartition: 2, seed: 6 });
    // 20 shards of 50: label-sorted, so each shard is one class
    expect(parts.every((p) => p.length === 100 && classesIn(p).length <= 2)).toBe(true);
    expect(assertDisjoint(parts)).toBe(1000);
    expect(mean(parts.map(maxShare))).toBeGreaterThanOrEqual(0.5);
  });

  it('leave out the remainder that does not fill a shard', () => {
    const y = Int32Array.from({ length: 1003 }, (_, i) => i % NUM_CLASSES);
    expect(assertDisjoint(split({ kind: 'shards', numPartitions: 10 }, y))).toBe(1000);
    expect(() => split({ kind: 'shards', numPartitions: 10, shardsPerPartition: 101 })).toThrow(
      /cannot fill 1010 shards/,
    );
  });
});

describe('partitionDataset', () => {
  it('returns datasets whose rows follow their indices', () => {
    // feature = example index, so each row can be traced back
    const ds: Dataset = {
      x: Float32Array.from({ length: 50 }, (_, i) => i),
      y: labels.slice(0, 50),
      n: 50,
      inputShape: [1],
      numClasses: NUM_CLASSES,
    };
    const config = parsePartitionConfig({ kind: 'iid', numPartitions: 3 });
    const parts = partitionDataset(ds, config);
    const idx = partitionIndices(ds.y, NUM_CLASSES, config);
    parts.forEach((p, k) => {
      expect(Array.from(p.x)).toEqual(Array.from(idx[k]));
      expect(Array.from(p.y)).toEqual(Array.from(idx[k], (i) => ds.y[i]));
    });
  });

  it('rejects bad configs and labels', () => {
    expect(() => parsePartitionConfig({ kind: 'dirichlet', numPartitions: 3 })).toThrow(/alpha/);
    expect(() => split({ kind: 'iid', numPartitions: 1001 })).toThrow(
      /cannot split 1000 examples into 1001 partitions/,
    );
    expect(() => split({ kind: 'dirichlet', numPartitions: 2, alpha: 1 }, Int32Array.from([0, 12]))).toThrow(
      /label 12 at index 1/,
    );
  });
});
