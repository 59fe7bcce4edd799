import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { shard, type Dataset } from './dataset.js';
import { loadFashionMnist, loadIdxDataset } from './idx-file.node.js';
import { loadMnist } from './mnist.node.js';
import { parseCsv, parseJsonLines } from './text-formats.js';

/**
 * Where a client's private data comes from (Node only: reads local files):
 *   mnist:<i>/<n>   shard i (0-based) of n of the 8,000 built-in MNIST training digits
 *   mnist:test      the 2,000 held-out MNIST digits (for the coordinator's --eval)
 *   idx:IMAGES,LABELS[:i/n]   an IDX image file and its IDX label file (gzipped or not), optionally shard i of n
 *   fashion-mnist:train|test|<i>/<n>   Debian's dataset-fashion-mnist package: 60,000 training or
 *                   10,000 test images, or shard i of n of the training images
 *   path.csv        numeric CSV with a header row; the label column holds class indices
 *   path.jsonl      one {"x": [...], "y": <class>} object per line (x may be nested)
 */
export type DataSpec =
  | { kind: 'mnist'; shard: number; shards: number }
  | { kind: 'mnist-test' }
  | { kind: 'idx'; images: string; labels: string; shard?: Shard }
  | { kind: 'fashion-mnist'; split: 'train' | 'test'; shard?: Shard }
  | { kind: 'csv'; path: string }
  | { kind: 'jsonl'; path: string };

export interface Shard {
  shard: number;
  shards: number;
}

export interface LoadOptions {
  /** CSV column holding the label; default 'label'. */
  labelColumn?: string;
}

function parseShard(spec: string, text: string, expected: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(text);
  if (!m) throw new Error(`data spec '${spec}': expected ${expected}`);
  const i = Number(m[1]);
  const n = Number(m[2]);
  if (n < 1 || i >= n)
    throw new Error(`data spec '${spec}': shard index must be in 0..${Math.max(0, n - 1)} for ${n} shard(s)`);
  return { shard: i, shards: n };
}

export function parseDataSpec(spec: string): DataSpec {
  if (spec.startsWith('mnist:')) {
    const rest = spec.slice('mnist:'.length);
    if (rest === 'test') return { kind: 'mnist-test' };
    return { kind: 'mnist', ...parseShard(spec, rest, 'mnist:<i>/<n> (shard i of n, 0-based) or mnist:test') };
  }
  if (spec.startsWith('fashion-mnist:')) {
    const rest = spec.slice('fashion-mnist:'.length);
    if (rest === 'train' || rest === 'test') return { kind: 'fashion-mnist', split: rest };
    return {
      kind: 'fashion-mnist',
      split: 'train',
      shard: parseShard(spec, rest, 'fashion-mnist:train, fashion-mnist:test or fashion-mnist:<i>/<n>'),
    };
  }
  if (spec.startsWith('idx:')) {
    const m = /^idx:([^,]+),(.+?)(?::(\d+\/\d+))?$/.exec(spec);
    if (!m)
      throw new Error(
        `data spec '${spec}': expected idx:IMAGES,LABELS or idx:IMAGES,LABELS:<i>/<n> (two IDX files, comma-separated)`,
      );
    const shardPart = m[3] ? { shard: parseShard(spec, m[3], 'idx:IMAGES,LABELS:<i>/<n>') } : {};
    return { kind: 'idx', images: m[1], labels: m[2], ...shardPart };
  }
  const ext = extname(spec).toLowerCase();
  if (ext === '.csv') return { kind: 'csv', path: spec };
  if (ext === '.jsonl' || ext === '.ndjson') return { kind: 'jsonl', path: spec };
  throw new Error(
    `data spec '${spec}': expected a .csv or .jsonl file, idx:IMAGES,LABELS, fashion-mnist:train|test|<i>/<n> or mnist:<i>/<n>`,
  );
}

function maybeShard(ds: Dataset, part: Shard | undefined): Dataset {
  return part ? shard(ds, part.shard, part.shards) : ds;
}

/** Reads the data a spec names (IDX files are streamed, so this is asynchronous). */
export async function loadDataSpec(spec: string, opts: LoadOptions = {}): Promise<Dataset> {
  const parsed = parseDataSpec(spec);
  switch (parsed.kind) {
    case 'idx':
      return maybeShard(await loadIdxDataset(parsed.images, parsed.labels), parsed.shard);
    case 'fashion-mnist':
      return maybeShard(await loadFashionMnist(parsed.split), parsed.shard);
    case 'mnist':
    case 'mnist-test':
    case 'csv':
    case 'jsonl':
      return loadInMemory(parsed, opts);
    default: {
      const never: never = parsed;
      throw new Error(`unknown data spec ${JSON.stringify(never)}`);
    }
  }
}

type InMemorySpec = Extract<DataSpec, { kind: 'mnist' | 'mnist-test' | 'csv' | 'jsonl' }>;

function loadInMemory(parsed: InMemorySpec, opts: LoadOptions): Dataset {
  switch (parsed.kind) {
    case 'mnist':
      return shard(loadMnist().train, parsed.shard, parsed.shards);
    case 'mnist-test':
      return loadMnist().test;
    case 'csv':
      return parseCsv(readData(parsed.path), parsed.path, opts.labelColumn ?? 'label');
    case 'jsonl':
      return parseJsonLines(readData(parsed.path), parsed.path);
    default: {
      const never: never = parsed;
      throw new Error(`unknown data spec ${JSON.stringify(never)}`);
    }
  }
}

/**
 * The synchronous subset for tests and tools: built-in MNIST, CSV and JSON lines. IDX sources
 * are refused by name (they stream; use loadDataSpec).
 */
export function loadDataSpecSync(spec: string, opts: LoadOptions = {}): Dataset {
  const parsed = parseDataSpec(spec);
  if (parsed.kind === 'idx' || parsed.kind === 'fashion-mnist') {
    throw new Error(
      `data spec '${spec}': ${parsed.kind} data is streamed from files; load it with loadDataSpec (asynchronous)`,
    );
  }
  return loadInMemory(parsed, opts);
}

function readData(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(
      code === 'ENOENT' ? `data file ${path} does not exist` : `cannot read data file ${path}: ${(e as Error).message}`,
    );
  }
}
