/**
 * `npm run bench:train`: how fast the seed CNN trains on each TensorFlow.js backend, against this
 * machine's limit measured in the same run (a large single-threaded wasm matrix product's GFLOP/s
 * divided by the model's FLOPs per training sample), plus the speed-up of a 2-worker TrainerPool.
 */
import * as tf from '@tensorflow/tfjs';
import { TrainerPool } from '../client/trainer-pool.js';
import { subset, type Dataset } from '../shared/data/dataset.js';
import { loadMnist } from '../shared/data/mnist.js';
import { setupBackend, type BackendName } from '../shared/engine/backend.js';
import { createSeedCnn } from '../shared/model/seed-cnn.js';
import { getFlatWeights } from '../shared/model/weights.js';
import { trainLocal, type TrainConfig } from '../shared/training.js';

interface Row {
  what: string;
  batch: string;
  samples: number;
  seconds: number;
  rate: number;
}

/** wasm measurements keep the best of this many passes: the machine may be shared. */
const REPEATS = 3;
const WASM_SAMPLES = 2048;
/** The pure-JS backend trains ~2 samples/s: one batch of 32 is enough to measure it. */
const CPU_SAMPLES = 32;
const POOL_JOB_SAMPLES = 1024;

const rows: Row[] = [];
const progress = (line: string): void => void process.stderr.write(`${line}\n`);
const quiet = { log: () => {}, argv: [], env: {} };

function first(ds: Dataset, n: number): Dataset {
  return subset(ds, Int32Array.from({ length: Math.min(n, ds.n) }, (_, i) => i));
}

function config(batchSize: number): TrainConfig {
  return { epochs: 1, batchSize, learningRate: 1e-3, optimizer: 'adam', seed: 1 };
}

/**
 * FLOPs of one training sample: forward, weight gradients, and input gradients for every layer
 * but the first (nothing needs the gradient of the data). Convolutions and dense layers only;
 * biases, activations and pooling are a rounding error.
 */
function trainingFlopsPerSample(model: tf.LayersModel): number {
  let flops = 0;
  let firstWeighted = true;
  for (const layer of model.layers) {
    const kernel = layer.getWeights()[0];
    if (!kernel) continue;
    const out = layer.outputShape as number[];
    const outPixels = out.length === 4 ? out[1] * out[2] : 1;
    flops += 2 * outPixels * kernel.size * (firstWeighted ? 2 : 3);
    firstWeighted = false;
  }
  return flops;
}

async function timeTraining(ds: Dataset, batchSize: number, repeats: number): Promise<number> {
  const model = createSeedCnn();
  let best = Infinity;
  for (let r = 0; r < repeats; r++) {
    const t0 = performance.now();
    await trainLocal(model, ds, config(batchSize));
    best = Math.min(best, (performance.now() - t0) / 1000);
  }
  model.dispose();
  return best;
}

async function benchBackend(name: BackendName, train: Dataset): Promise<number | undefined> {
  if ((await setupBackend(name, quiet)) !== name) return undefined;
  let best = 0;
  const batches = name === 'cpu' ? [32] : [32, 128];
  for (const batch of batches) {
    const samples = name === 'cpu' ? CPU_SAMPLES : WASM_SAMPLES;
    progress(`training on ${name}, batch ${batch}, ${samples} digits...`);
    if (name !== 'cpu') await trainLocal(createSeedCnn(), first(train, 2 * batch), config(batch));
    const seconds = await timeTraining(first(train, samples), batch, name === 'cpu' ? 1 : REPEATS);
    const rate = samples / seconds;
    rows.push({ what: `train ${name}`, batch: String(batch), samples, seconds, rate });
    best = Math.max(best, rate);
  }
  return best;
}

/** Best GFLOP/s of large single-threaded wasm matrix products. */
async function wasmMatMulGflops(): Promise<number> {
  await setupBackend('wasm', quiet);
  let best = 0;
  for (const n of [1024, 2048]) {
    const a = tf.randomUniform([n, n]);
    const b = tf.randomUniform([n, n]);
    tf.matMul(a, b).dispose();
    for (let r = 0; r < REPEATS; r++) {
      const t0 = performance.now();
      const c = tf.matMul(a, b);
      c.dataSync();
      const seconds = (performance.now() - t0) / 1000;
      c.dispose();
      best = Math.max(best, (2 * n ** 3) / seconds / 1e9);
    }
    tf.dispose([a, b]);
  }
  return best;
}

/** Two clients' jobs on a TrainerPool of `size` workers: samples per second overall. */
async function poolRate(size: number, jobs: Dataset[], weights: Float32Array): Promise<number> {
  const pool = new TrainerPool({ size, backend: 'wasm' });
  try {
    await pool.backends();
    // Warm every worker (JIT, XNNPACK operators) before timing.
    await Promise.all(jobs.map((data) => pool.train({ model: 'seed-cnn', weights, data: first(data, 256), config: config(128) })));
    const t0 = performance.now();
    await Promise.all(jobs.map((data) => pool.train({ model: 'seed-cnn', weights, data, config: config(128) })));
    const seconds = (performance.now() - t0) / 1000;
    const samples = jobs.reduce((s, d) => s + d.n, 0);
    rows.push({ what: `pool ${size} worker${size > 1 ? 's' : ''} wasm`, batch: '128', samples, seconds, rate: samples / seconds });
    return samples / seconds;
  } finally {
    await pool.close();
  }
}

function printTable(): void {
  const header = ['run', 'batch', 'samples', 'seconds', 'samples/s'];
  const body = rows.map((r) => [r.what, r.batch, String(r.samples), r.seconds.toFixed(2), r.rate.toFixed(1)]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const b of body) console.log(line(b));
}

const { train } = loadMnist();
await setupBackend('cpu', quiet);
const seed = createSeedCnn();
const flopsPerSample = trainingFlopsPerSample(seed);
const startWeights = getFlatWeights(seed);
seed.dispose();

const tensorflow = await benchBackend('tensorflow', train);
if (tensorflow === undefined) progress('tensorflow: @tensorflow/tfjs-node is not installed or did not load');
const wasm = await benchBackend('wasm', train);
if (wasm === undefined) throw new Error('the wasm backend did not start');
const gflops = await wasmMatMulGflops();
const limit = (gflops * 1e9) / flopsPerSample;
const cpu = await benchBackend('cpu', train);
if (cpu === undefined) throw new Error('the cpu backend did not start');
progress('TrainerPool with 1 and 2 workers...');
const jobs = [0, 1].map((k) => subset(train, Int32Array.from({ length: POOL_JOB_SAMPLES }, (_, i) => k * POOL_JOB_SAMPLES + i)));
const one = await poolRate(1, jobs, startWeights);
const two = await poolRate(2, jobs, startWeights);

printTable();
console.log('');
console.log(`model: ${(flopsPerSample / 1e6).toFixed(2)} MFLOP per training sample; wasm matmul: ${gflops.toFixed(1)} GFLOP/s (1 thread)`);
console.log(`limit = GFLOP/s / MFLOP per sample = ${limit.toFixed(0)} samples/s; wasm = best of batch 32/128`);
console.log(`TrainerPool speed-up with 2 workers: ${(two / one).toFixed(2)}x`);
console.log(
  `train: wasm=${wasm.toFixed(0)} cpu=${cpu.toFixed(1)} tensorflow=${tensorflow === undefined ? 'unavailable' : tensorflow.toFixed(0)} limit=${limit.toFixed(0)} ratio=${(wasm / limit).toFixed(2)}`,
);
