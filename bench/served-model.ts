/**
 * `npm run bench:served-model`: size and held-out accuracy of the served copies of a trained seed
 * CNN: float32, uint16, uint8 (tfjs weightsManifest quantization) and magnitude-pruned ones. Each
 * copy is loaded the way a browser would, by stock tf.loadLayersModel from an HTTP URL, and scored
 * on the 2,000 held-out MNIST digits. The model is trained centrally on the 8,000 training digits
 * (EPOCHS epochs, the lab's SGD settings), so the table isolates the effect of compression.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import * as tf from '@tensorflow/tfjs';
import { loadMnist } from '../shared/data/mnist.node.js';
import { setupBackend } from '../shared/engine/backend.js';
import { createSeedCnn } from '../shared/model/seed-cnn.js';
import { taskFromModel } from '../shared/task.js';
import { evaluate, trainLocal } from '../shared/training.js';
import { pruneByMagnitude, servedModelFiles, type ServedDtype } from '../server/store/served-compression.js';

const EPOCHS = 2;
const progress = (line: string): void => void process.stderr.write(`${line}\n`);

const backend = await setupBackend(undefined, { log: () => undefined });
const { train, test } = loadMnist();
const model = createSeedCnn(42);
const started = performance.now();
await trainLocal(model, train, { epochs: EPOCHS, batchSize: 16, learningRate: 0.1, optimizer: 'sgd', seed: 42 });
progress(
  `trained the seed CNN on ${train.n} digits for ${EPOCHS} epochs in ${((performance.now() - started) / 1000).toFixed(0)} s (${backend})`,
);
const task = taskFromModel('mnist', model);
model.dispose();
const artifact = { modelTopology: task.modelTopology, weightSpecs: task.weightSpecs, weights: task.initialWeights };

let served: { json: string; weights: Uint8Array } | undefined;
// A fresh connection per request: scoring a model takes longer than the keep-alive timeout.
const server = createServer((req, res) => {
  if (req.url === '/model.json' && served)
    res.writeHead(200, { 'content-type': 'application/json', connection: 'close' }).end(served.json);
  else if (req.url === '/weights.bin' && served)
    res.writeHead(200, { 'content-type': 'application/octet-stream', connection: 'close' }).end(served.weights);
  else res.writeHead(404).end();
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/model.json`;

const variants: { name: string; dtype: ServedDtype; sparsity: number }[] = [
  { name: 'float32', dtype: 'float32', sparsity: 0 },
  { name: 'uint16', dtype: 'uint16', sparsity: 0 },
  { name: 'uint8', dtype: 'uint8', sparsity: 0 },
  { name: 'pruned 50%', dtype: 'float32', sparsity: 0.5 },
  { name: 'pruned 50% + uint8', dtype: 'uint8', sparsity: 0.5 },
  { name: 'pruned 80%', dtype: 'float32', sparsity: 0.8 },
  { name: 'pruned 80% + uint8', dtype: 'uint8', sparsity: 0.8 },
];
const rows: string[][] = [];
let baseline: { bytes: number; gzip: number; accuracy: number } | undefined;
for (const v of variants) {
  const pruned = v.sparsity > 0 ? pruneByMagnitude(artifact.weights, artifact.weightSpecs, v.sparsity) : undefined;
  const files = servedModelFiles({ ...artifact, weights: pruned?.weights ?? artifact.weights }, v.dtype);
  served = { json: JSON.stringify(files.modelJson), weights: files.weights };
  const loaded = await tf.loadLayersModel(url);
  const { accuracy } = await evaluate(loaded, test);
  loaded.dispose();
  const bytes = files.weights.byteLength;
  const gzip = gzipSync(files.weights, { level: 9 }).byteLength;
  baseline ??= { bytes, gzip, accuracy };
  rows.push([
    v.name,
    `${(bytes / 1024).toFixed(1)} KiB`,
    `${(bytes / baseline.bytes).toFixed(3)}x`,
    `${(gzip / 1024).toFixed(1)} KiB (${(gzip / baseline.gzip).toFixed(3)}x)`,
    pruned ? `${(pruned.zeroFraction * 100).toFixed(1)}%` : '-',
    `${(accuracy * 100).toFixed(2)}%`,
    ((accuracy - baseline.accuracy) * 100).toFixed(2),
  ]);
  progress(`${v.name}: ${bytes} bytes, accuracy ${(accuracy * 100).toFixed(2)}%`);
}
server.close();

const head = [
  'served copy',
  'weights file',
  'vs float32',
  'gzip -9',
  'zero parameters',
  `held-out accuracy (${test.n})`,
  'points vs float32',
];
console.log(
  [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join(
    '\n',
  ),
);
