import { z } from 'zod';
import { permutation, seededRng, shuffleInPlace, type Rng } from '../random.js';
import { dirichletSample } from '../random-distributions.js';
import { subset, type Dataset } from './dataset.js';

/**
 * Splits a labelled dataset into client partitions the way Flower Datasets' partitioners do
 * (IID, Dirichlet, pathological, shards). Everything is drawn from one seeded stream: the same
 * labels, config and seed always give the same partitions.
 */

const common = {
  numPartitions: z.int().min(1),
  /** Flower Datasets' default seed. */
  seed: z.int().default(42),
};

export const partitionConfigSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('iid'), ...common }),
  z.strictObject({
    kind: z.literal('dirichlet'),
    ...common,
    /** Concentration: small (0.1) = each client sees few classes, large (100) = near IID. */
    alpha: z.number().positive(),
    /** Resample the whole split until every partition has at least this many examples. */
    minPartitionSize: z.int().min(0).default(10),
    /** Stop giving a class to partitions already above the average size (Flower's self_balancing). */
    selfBalancing: z.boolean().default(false),
    /** Give up, with an error, after this many draws. */
    maxAttempts: z.int().min(1).default(1000),
  }),
  z.strictObject({
    kind: z.literal('pathological'),
    ...common,
    classesPerPartition: z.int().min(1),
    /**
     * random: k distinct classes per partition; deterministic: partition i gets classes i..i+k-1
     * (mod C); first-deterministic: class i mod C then k-1 random others (the paper's setup).
     */
    classAssignment: z.enum(['random', 'deterministic', 'first-deterministic']).default('random'),
  }),
  z.strictObject({
    kind: z.literal('shards'),
    ...common,
    /** McMahan et al.'s pathological non-IID MNIST: 2 label-sorted shards per client. */
    shardsPerPartition: z.int().min(1).default(2),
  }),
]);

export type PartitionConfig = z.output<typeof partitionConfigSchema>;
export type PartitionConfigInput = z.input<typeof partitionConfigSchema>;

export function parsePartitionConfig(raw: unknown): PartitionConfig {
  const result = partitionConfigSchema.safeParse(raw);
  if (!result.success) throw new Error(`invalid partition config:\n${z.prettifyError(result.error)}`);
  return result.data;
}

/** Indices of each class's examples, in dataset order. */
function indicesByClass(labels: Int32Array, numClasses: number): number[][] {
  const byClass: number[][] = Array.from({ length: numClasses }, () => []);
  labels.forEach((y, i) => {
    if (!(y >= 0 && y < numClasses)) throw new Error(`label ${y} at index ${i} is outside 0..${numClasses - 1}`);
    byClass[y].push(i);
  });
  return byClass;
}

/** Splits `items` into `parts` contiguous runs whose sizes differ by at most one (numpy's array_split). */
function evenSplit<T>(items: readonly T[], parts: number): T[][] {
  return Array.from({ length: parts }, (_, p) =>
    items.slice(Math.floor((p * items.length) / parts), Math.floor(((p + 1) * items.length) / parts)),
  );
}

function iid(n: number, numPartitions: number, rng: Rng): number[][] {
  return evenSplit(Array.from(permutation(n, rng)), numPartitions);
}

function dirichlet(
  labels: Int32Array,
  numClasses: number,
  cfg: Extract<PartitionConfig, { kind: 'dirichlet' }>,
  rng: Rng,
): number[][] {
  const P = cfg.numPartitions;
  const byClass = indicesByClass(labels, numClasses);
  const average = labels.length / P;
  const alphas = new Array<number>(P).fill(cfg.alpha);
  let smallest = 0;
  for (let attempt = 0; attempt < cfg.maxAttempts; attempt++) {
    const parts: number[][] = Array.from({ length: P }, () => []);
    for (const members of byClass) {
      if (members.length === 0) continue;
      const idx = [...members];
      shuffleInPlace(idx, rng);
      const share = dirichletSample(alphas, rng);
      if (cfg.selfBalancing) {
        for (let p = 0; p < P; p++) if (parts[p].length > average) share[p] = 0;
        const total = share.reduce((s, x) => s + x, 0);
        // The open partitions' shares all underflowed to zero (tiny alpha): keep a fresh unbalanced draw.
        if (total > 0) for (let p = 0; p < P; p++) share[p] /= total;
        else share.set(dirichletSample(alphas, rng));
      }
      let cumulative = 0;
      let start = 0;
      for (let p = 0; p < P; p++) {
        cumulative += share[p];
        // The last partition takes the remainder so rounding never loses an example.
        const end = p === P - 1 ? idx.length : Math.min(idx.length, Math.floor(cumulative * idx.length));
        for (let k = start; k < end; k++) parts[p].push(idx[k]);
        start = Math.max(start, end);
      }
    }
    smallest = Math.min(...parts.map((p) => p.length));
    if (smallest >= cfg.minPartitionSize) return parts;
  }
  throw new Error(
    `Dirichlet(alpha=${cfg.alpha}) could not give all ${P} partitions at least ${cfg.minPartitionSize} examples ` +
      `in ${cfg.maxAttempts} attempts (last smallest: ${smallest}); raise alpha or lower minPartitionSize`,
  );
}

function pathological(
  labels: Int32Array,
  numClasses: number,
  cfg: Extract<PartitionConfig, { kind: 'pathological' }>,
  rng: Rng,
): number[][] {
  const P = cfg.numPartitions;
  const k = cfg.classesPerPartition;
  const byClass = indicesByClass(labels, numClasses);
  const present = byClass.flatMap((members, c) => (members.length > 0 ? [c] : []));
  if (k > present.length) {
    throw new Error(`classesPerPartition is ${k} but the dataset has only ${present.length} classes`);
  }
  const classesOf: number[][] = [];
  for (let p = 0; p < P; p++) {
    switch (cfg.classAssignment) {
      case 'deterministic':
        classesOf.push(Array.from({ length: k }, (_, i) => present[(p + i) % present.length]));
        break;
      case 'first-deterministic': {
        const first = present[p % present.length];
        const others = present.filter((c) => c !== first);
        shuffleInPlace(others, rng);
        classesOf.push([first, ...others.slice(0, k - 1)]);
        break;
      }
      case 'random': {
        const shuffled = [...present];
        shuffleInPlace(shuffled, rng);
        classesOf.push(shuffled.slice(0, k));
        break;
      }
      default: {
        const never: never = cfg.classAssignment;
        throw new Error(`unknown class assignment ${String(never)}`);
      }
    }
  }
  const parts: number[][] = Array.from({ length: P }, () => []);
  for (const c of present) {
    const holders = classesOf.flatMap((classes, p) => (classes.includes(c) ? [p] : []));
    if (holders.length === 0) continue; // no partition drew this class: its examples go unused, as in Flower
    if (holders.length > byClass[c].length) {
      throw new Error(
        `class ${c} has ${byClass[c].length} examples but ${holders.length} partitions need a share of it`,
      );
    }
    const idx = [...byClass[c]];
    shuffleInPlace(idx, rng);
    evenSplit(idx, holders.length).forEach((chunk, h) => parts[holders[h]].push(...chunk));
  }
  return parts;
}

function shards(labels: Int32Array, cfg: Extract<PartitionConfig, { kind: 'shards' }>, rng: Rng): number[][] {
  const P = cfg.numPartitions;
  const total = P * cfg.shardsPerPartition;
  const shardSize = Math.floor(labels.length / total);
  if (shardSize === 0)
    throw new Error(
      `${labels.length} examples cannot fill ${total} shards (${P} partitions x ${cfg.shardsPerPartition})`,
    );
  // Shuffle, then stable-sort by label: shards are label-pure runs with random members.
  const order = Array.from(permutation(labels.length, rng)).sort((a, b) => labels[a] - labels[b]);
  const shardOrder = Array.from(permutation(total, rng));
  // The last labels.length - total * shardSize examples do not fill a shard and are left out, as in Flower.
  return Array.from({ length: P }, (_, p) =>
    shardOrder
      .slice(p * cfg.shardsPerPartition, (p + 1) * cfg.shardsPerPartition)
      .flatMap((s) => order.slice(s * shardSize, (s + 1) * shardSize)),
  );
}

/**
 * Example indices of each partition, each list shuffled. Dirichlet and pathological partitions may
 * differ in size; shards may leave a remainder of examples out.
 */
export function partitionIndices(labels: Int32Array, numClasses: number, config: PartitionConfig): Int32Array[] {
  if (config.numPartitions > labels.length) {
    throw new Error(`cannot split ${labels.length} examples into ${config.numPartitions} partitions`);
  }
  const rng = seededRng(config.seed);
  let parts: number[][];
  switch (config.kind) {
    case 'iid':
      parts = iid(labels.length, config.numPartitions, rng);
      break;
    case 'dirichlet':
      parts = dirichlet(labels, numClasses, config, rng);
      break;
    case 'pathological':
      parts = pathological(labels, numClasses, config, rng);
      break;
    case 'shards':
      parts = shards(labels, config, rng);
      break;
    default: {
      const never: never = config;
      throw new Error(`unknown partitioner ${JSON.stringify(never)}`);
    }
  }
  return parts.map((p) => {
    const arr = Int32Array.from(p);
    shuffleInPlace(arr, rng);
    return arr;
  });
}

export function partitionDataset(ds: Dataset, config: PartitionConfig): Dataset[] {
  return partitionIndices(ds.y, ds.numClasses, config).map((idx) => subset(ds, idx));
}

/** Per-class example counts of the examples at `indices` (for summaries and checks). */
export function classCounts(labels: Int32Array, indices: ArrayLike<number>, numClasses: number): Int32Array {
  const counts = new Int32Array(numClasses);
  for (let i = 0; i < indices.length; i++) counts[labels[indices[i]]]++;
  return counts;
}
