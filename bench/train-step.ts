/**
 * `npm run bench:train-step`: where one seed-CNN training step (Adam, wasm, one thread) spends its
 * time, in CPU time so that other jobs on a shared machine do not count. Prints each kernel's best
 * of 7 profiled steps (`--by-shape` splits kernels by input shapes), then the best and median CPU
 * time of N further steps, the fused training path (applyForTraining) and model.apply alternating
 * step by step. Options: --batch B (default 128), --steps N (default 20).
 */
import * as tf from '@tensorflow/tfjs';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { subset } from '../shared/data/dataset.js';
import { loadMnist } from '../shared/data/mnist.node.js';
import { setupBackend } from '../shared/engine/backend.js';
import { createSeedCnn } from '../shared/model/seed-cnn.js';
import { applyForTraining } from '../shared/model/training-forward.js';
import { batchTensors, makeOptimizer, trainableVariables } from '../shared/training.js';

const { values } = parseArgs({
  options: {
    batch: { type: 'string', default: '128' },
    steps: { type: 'string', default: '20' },
    'by-shape': { type: 'boolean', default: false },
  },
});
const batch = Number(values.batch);
const steps = Number(values.steps);

await setupBackend('wasm', { log: () => {}, argv: [], env: {} });
const { train } = loadMnist();
const ds = subset(
  train,
  Int32Array.from({ length: batch }, (_, i) => i),
);
const order = Int32Array.from({ length: batch }, (_, i) => i);
const model = createSeedCnn();
const vars = trainableVariables(model);
const optimizer = makeOptimizer({ epochs: 1, batchSize: batch, learningRate: 1e-3, optimizer: 'adam' });

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** One Adam step on the batch; `fused`: the training path, else model.apply. */
function step(fused: boolean): void {
  const { xs, ys } = batchTensors(ds, order, 0, batch);
  const cost = optimizer.minimize(
    () => {
      const p = fused ? applyForTraining(model, xs) : (model.apply(xs, { training: true }) as tf.Tensor);
      return tf.mean<tf.Scalar>(tf.metrics.categoricalCrossentropy(ys, p));
    },
    true,
    vars,
  );
  cost!.dataSync();
  tf.dispose([cost!, xs, ys]);
}

for (let i = 0; i < 3; i++) [true, false].forEach(step);

// Kernel times as CPU time: the backend's own timer is wall-clock time.
(tf.backend() as unknown as { time: (f: () => void) => Promise<{ kernelMs: number }> }).time = (f) => {
  const start = cpuMs();
  f();
  return Promise.resolve({ kernelMs: cpuMs() - start });
};
const best = new Map<string, { ms: number; calls: number }>();
for (let r = 0; r < 7; r++) {
  const profile = await tf.profile(() => step(true));
  const here = new Map<string, { ms: number; calls: number }>();
  for (const k of profile.kernels) {
    const key = values['by-shape'] ? `${k.name} ${k.inputShapes.map((s) => `[${String(s)}]`).join('')}` : k.name;
    const e = here.get(key) ?? { ms: 0, calls: 0 };
    e.ms += typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    e.calls++;
    here.set(key, e);
  }
  for (const [key, e] of here) if (e.ms < (best.get(key)?.ms ?? Infinity)) best.set(key, e);
}
const rows = [...best].sort((a, b) => b[1].ms - a[1].ms);
console.log(`batch ${batch}: kernels, CPU ms (best of 7 steps), calls per step`);
for (const [key, e] of rows.filter(([, e]) => e.ms >= 0.05))
  console.log(`${e.ms.toFixed(2).padStart(8)} ${String(e.calls).padStart(4)}  ${key}`);
console.log(
  `${rows
    .reduce((sum, [, e]) => sum + e.ms, 0)
    .toFixed(2)
    .padStart(8)}       sum`,
);

const times = { fused: [] as number[], apply: [] as number[] };
for (let i = 0; i < steps; i++) {
  for (const fused of [true, false]) {
    const start = cpuMs();
    step(fused);
    times[fused ? 'fused' : 'apply'].push(cpuMs() - start);
  }
}
for (const [what, list] of Object.entries(times)) {
  list.sort((a, b) => a - b);
  const ms = list[0];
  console.log(
    `step CPU ms, ${what === 'fused' ? 'applyForTraining' : 'model.apply'}: best ${ms.toFixed(2)}, median ${list[list.length >> 1].toFixed(2)} (${((batch / ms) * 1000).toFixed(0)} samples/s at the best)`,
  );
}
console.log(`1-minute load average ${loadavg()[0].toFixed(1)}`);
model.dispose();
optimizer.dispose();
