/**
 * `npm run bench:train`: how fast the seed CNN trains on each TensorFlow.js backend, against this
 * machine's limit measured in the same run (a large single-threaded wasm matrix product's GFLOP/s
 * divided by the model's FLOPs per training sample); one client training data-parallel on 2
 * threads; PyTorch on the same digits with 1 and 2 threads (bench/train_torch.py, when a python3
 * with torch is found: FEDSERVE_PYTHON, python3 or /usr/bin/python3); and the speed-up of a
 * 2-worker TrainerPool.
 */
import * as tf from '@tensorflow/tfjs';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DataParallelTrainer } from '../client/data-parallel-trainer.js';
import { TrainerPool } from '../client/trainer-pool.js';
import { subset, type Dataset } from '../shared/data/dataset.js';
import { loadMnist } from '../shared/data/mnist.node.js';
import { setupBackend } from '../shared/engine/backend.js';
import { createSeedCnn } from '../shared/model/seed-cnn.js';
import { getFlatWeights } from '../shared/model/weights.js';
import { trainLocal, type TrainConfig } from '../shared/training.js';

interface Row {
  what: string;
  batch: string;
  samples: number;
  /** Absent: the engine is not available here. */
  seconds?: number;
  rate?: number;
}

/** wasm and pool measurements keep the best of this many passes: the machine may be shared. */
const REPEATS = 3;
const WASM_SAMPLES = 2048;
/** The pure-JS backend trains ~2 samples/s: one batch of 32 is enough to measure it. */
const CPU_SAMPLES = 32;
const POOL_JOB_SAMPLES = 1024;
const BATCHES = [32, 128];
const LEARNING_RATE = 1e-3;

const rows: Row[] = [];
const progress = (line: string): void => void process.stderr.write(`${line}\n`);
const quiet = { log: () => {}, argv: [], env: {} };

function first(ds: Dataset, n: number): Dataset {
  return subset(
    ds,
    Int32Array.from({ length: Math.min(n, ds.n) }, (_, i) => i),
  );
}

function config(batchSize: number): TrainConfig {
  return { epochs: 1, batchSize, learningRate: LEARNING_RATE, optimizer: 'adam', seed: 1 };
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

/** Seconds for one pass of trainLocal over `ds`. */
async function timeTraining(model: tf.LayersModel, ds: Dataset, batchSize: number): Promise<number> {
  const t0 = performance.now();
  await trainLocal(model, ds, config(batchSize));
  return (performance.now() - t0) / 1000;
}

/** GFLOP/s of one n x n x n single-threaded wasm matrix product. */
function matMulGflops(a: tf.Tensor2D, b: tf.Tensor2D): number {
  const t0 = performance.now();
  const c = tf.matMul(a, b);
  c.dataSync();
  const seconds = (performance.now() - t0) / 1000;
  c.dispose();
  return (2 * a.shape[0] ** 3) / seconds / 1e9;
}

/** Seconds for one pass of a 2-thread data-parallel client over `ds`. */
async function timeParallel(
  trainer: DataParallelTrainer,
  model: tf.LayersModel,
  ds: Dataset,
  batchSize: number,
): Promise<number> {
  const t0 = performance.now();
  await trainer.train(model, ds, config(batchSize));
  return (performance.now() - t0) / 1000;
}

/**
 * The wasm training passes on one thread and on 2 (data parallel, batch 32 and 128) and the
 * machine's limit (large matrix products) measured in alternation, each keeping its best pass, so
 * all see the same machine load.
 */
async function benchWasm(train: Dataset): Promise<{ rate: number; threads2: number; gflops: number }> {
  await setupBackend('wasm', quiet);
  const ds = first(train, WASM_SAMPLES);
  const models = BATCHES.map(() => createSeedCnn());
  const best = BATCHES.map(() => Infinity);
  const parallelModels = BATCHES.map(() => createSeedCnn());
  const parallelBest = BATCHES.map(() => Infinity);
  const trainer = new DataParallelTrainer({ threads: 2, log: progress });
  const squares = [1024, 2048].map((n) => [tf.randomUniform<tf.Rank.R2>([n, n]), tf.randomUniform<tf.Rank.R2>([n, n])]);
  try {
    if ((await trainer.threads(ds)) !== 2) throw new Error('the 2-thread client fell back to one thread');
    for (const [k, batch] of BATCHES.entries()) {
      await trainLocal(models[k], first(train, 2 * batch), config(batch));
      // The whole set: other data would start the replicas again on its shared copy.
      await timeParallel(trainer, parallelModels[k], ds, batch);
    }
    for (const [a, b] of squares) matMulGflops(a, b);
    let gflops = 0;
    for (let r = 0; r < REPEATS; r++) {
      progress(
        `wasm pass ${r + 1}/${REPEATS}: ${WASM_SAMPLES} digits at batch ${BATCHES.join(' and ')}, matrix products, then the same on 2 threads...`,
      );
      for (const [k, batch] of BATCHES.entries()) best[k] = Math.min(best[k], await timeTraining(models[k], ds, batch));
      for (const [a, b] of squares) gflops = Math.max(gflops, matMulGflops(a, b));
      for (const [k, batch] of BATCHES.entries())
        parallelBest[k] = Math.min(parallelBest[k], await timeParallel(trainer, parallelModels[k], ds, batch));
    }
    for (const [what, seconds] of [
      ['train wasm', best],
      ['client 2 threads wasm', parallelBest],
    ] as const) {
      for (const [k, batch] of BATCHES.entries())
        rows.push({
          what,
          batch: String(batch),
          samples: WASM_SAMPLES,
          seconds: seconds[k],
          rate: WASM_SAMPLES / seconds[k],
        });
    }
    return {
      rate: Math.max(...best.map((s) => WASM_SAMPLES / s)),
      threads2: Math.max(...parallelBest.map((s) => WASM_SAMPLES / s)),
      gflops,
    };
  } finally {
    await trainer.close();
    [...models, ...parallelModels].forEach((m) => m.dispose());
    tf.dispose(squares.flat());
  }
}

/** A python3 that imports torch, or undefined. */
function findTorchPython(): string | undefined {
  const candidates = [process.env.FEDSERVE_PYTHON, 'python3', '/usr/bin/python3'].filter((c): c is string => !!c);
  return candidates.find((python) => spawnSync(python, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0);
}

/**
 * PyTorch on the same digits, model, optimizer and batch sizes, with 1 and 2 threads: best of
 * REPEATS passes each. Returns the best samples/s per thread count, or undefined without torch.
 */
function benchTorch(train: Dataset): Map<number, number> | undefined {
  const threads = [1, 2];
  const python = findTorchPython();
  if (python === undefined) {
    progress('PyTorch: no python3 with torch found (apt-get install python3-torch, or set FEDSERVE_PYTHON)');
    for (const t of threads)
      rows.push({ what: `torch ${t} thread${t > 1 ? 's' : ''} (unavailable)`, batch: '-', samples: 0 });
    return undefined;
  }
  const ds = first(train, WASM_SAMPLES);
  const dir = mkdtempSync(join(tmpdir(), 'fedserve-bench-torch-'));
  try {
    writeFileSync(join(dir, 'x.f32'), ds.x);
    writeFileSync(join(dir, 'y.i32'), ds.y);
    progress(
      `PyTorch (${python}): ${WASM_SAMPLES} digits at batch ${BATCHES.join(' and ')}, ${threads.join(' and ')} threads...`,
    );
    const script = fileURLToPath(new URL('./train_torch.py', import.meta.url));
    // A fresh interpreter per thread count: torch sizes its thread pools once, at first use.
    const lines = threads.flatMap((t) => {
      const args = [script, dir, String(LEARNING_RATE), String(REPEATS), String(t), BATCHES.join(',')];
      const run = spawnSync(python, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
      if (run.status !== 0) throw new Error(`${python} bench/train_torch.py exited with ${run.status}`);
      return run.stdout.trim().split('\n');
    });
    const best = new Map<number, number>();
    for (const line of lines) {
      const m = JSON.parse(line) as { threads: number; batch: number; samples: number; seconds: number };
      const rate = m.samples / m.seconds;
      rows.push({
        what: `torch ${m.threads} thread${m.threads > 1 ? 's' : ''}`,
        batch: String(m.batch),
        samples: m.samples,
        seconds: m.seconds,
        rate,
      });
      best.set(m.threads, Math.max(best.get(m.threads) ?? 0, rate));
    }
    return best;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** One pass at batch 32 (tensorflow: also 128), or undefined when the backend is not available. */
async function benchOther(name: 'tensorflow' | 'cpu', train: Dataset): Promise<number | undefined> {
  if ((await setupBackend(name, quiet)) !== name) return undefined;
  let best = 0;
  for (const batch of name === 'cpu' ? [32] : [32, 128]) {
    const samples = name === 'cpu' ? CPU_SAMPLES : WASM_SAMPLES;
    progress(`training on ${name}, batch ${batch}, ${samples} digits...`);
    const model = createSeedCnn();
    if (name !== 'cpu') await trainLocal(model, first(train, 2 * batch), config(batch));
    const seconds = await timeTraining(model, first(train, samples), batch);
    model.dispose();
    rows.push({ what: `train ${name}`, batch: String(batch), samples, seconds, rate: samples / seconds });
    best = Math.max(best, samples / seconds);
  }
  return best;
}

/** Two clients' jobs on a TrainerPool of `size` workers: samples per second overall. */
async function poolRate(size: number, jobs: Dataset[], weights: Float32Array): Promise<number> {
  const pool = new TrainerPool({ size, backend: 'wasm' });
  try {
    await pool.backends();
    // Warm every worker (JIT, XNNPACK operators) before timing; keep the best of the passes.
    await Promise.all(
      jobs.map((data) => pool.train({ model: 'seed-cnn', weights, data: first(data, 256), config: config(128) })),
    );
    let seconds = Infinity;
    for (let r = 0; r < REPEATS; r++) {
      const t0 = performance.now();
      await Promise.all(jobs.map((data) => pool.train({ model: 'seed-cnn', weights, data, config: config(128) })));
      seconds = Math.min(seconds, (performance.now() - t0) / 1000);
    }
    const samples = jobs.reduce((s, d) => s + d.n, 0);
    rows.push({
      what: `pool ${size} worker${size > 1 ? 's' : ''} wasm`,
      batch: '128',
      samples,
      seconds,
      rate: samples / seconds,
    });
    return samples / seconds;
  } finally {
    await pool.close();
  }
}

function printTable(): void {
  const header = ['run', 'batch', 'samples', 'seconds', 'samples/s'];
  const body = rows.map((r) =>
    r.seconds === undefined || r.rate === undefined
      ? [r.what, r.batch, '-', '-', 'unavailable']
      : [r.what, r.batch, String(r.samples), r.seconds.toFixed(2), r.rate.toFixed(1)],
  );
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const b of body) console.log(line(b));
}

const loadAtStart = loadavg()[0];
const { train } = loadMnist();
await setupBackend('cpu', quiet);
const seed = createSeedCnn();
const flopsPerSample = trainingFlopsPerSample(seed);
const startWeights = getFlatWeights(seed);
seed.dispose();

const tensorflow = await benchOther('tensorflow', train);
if (tensorflow === undefined) progress('tensorflow: @tensorflow/tfjs-node is not installed or did not load');
const { rate: wasm, threads2, gflops } = await benchWasm(train);
const limit = (gflops * 1e9) / flopsPerSample;
const torch = benchTorch(train);
const cpu = await benchOther('cpu', train);
if (cpu === undefined) throw new Error('the cpu backend did not start');
progress('TrainerPool with 1 and 2 workers...');
const jobs = [0, 1].map((k) =>
  subset(
    train,
    Int32Array.from({ length: POOL_JOB_SAMPLES }, (_, i) => k * POOL_JOB_SAMPLES + i),
  ),
);
const one = await poolRate(1, jobs, startWeights);
const two = await poolRate(2, jobs, startWeights);

printTable();
const fmt = (v: number | undefined) => (v === undefined ? 'unavailable' : v.toFixed(0));
const torch1 = torch?.get(1);
const torch2 = torch?.get(2);
console.log('');
console.log(
  `model: ${(flopsPerSample / 1e6).toFixed(2)} MFLOP per training sample; wasm matmul: ${gflops.toFixed(1)} GFLOP/s (1 thread)`,
);
console.log(`limit = GFLOP/s / MFLOP per sample = ${limit.toFixed(0)} samples/s; every engine = best of batch 32/128`);
console.log(
  `TrainerPool speed-up with 2 workers: ${(two / one).toFixed(2)}x; cpu backend: ${cpu.toFixed(1)} samples/s`,
);
console.log(`tensorflow (tfjs-node): ${fmt(tensorflow)} samples/s`);
console.log(
  `client on 2 threads / PyTorch 2 threads: ${torch2 === undefined ? 'unavailable' : (threads2 / torch2).toFixed(2)}; 1-minute load average ${loadAtStart.toFixed(1)} at the start, ${loadavg()[0].toFixed(1)} at the end`,
);
console.log(
  `train: wasm=${fmt(wasm)} threads2=${fmt(threads2)} torch1=${fmt(torch1)} torch2=${fmt(torch2)} limit=${fmt(limit)} ratio=${(wasm / limit).toFixed(2)}`,
);
