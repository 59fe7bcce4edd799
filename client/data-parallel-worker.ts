import * as tf from '@tensorflow/tfjs';
import { parentPort, workerData } from 'node:worker_threads';
import type { Dataset } from '../shared/data/dataset.js';
import { setupBackend } from '../shared/engine/backend.js';
import { getFlatWeights, setFlatWeights } from '../shared/model/weights.js';
import { buildModel } from '../shared/task.js';
import { batchLoss, batchTensors, makeOptimizer, trainableVariables, type Proximal } from '../shared/training.js';
import type { FromReplica, ReplicaSetup, ToReplica } from './data-parallel-protocol.js';

/**
 * One replica of DataParallelTrainer: computes the gradient of its shard of each batch, then applies
 * the combined gradient it is sent, so every replica's weights and optimizer state stay identical.
 */

const port = parentPort;
if (!port) throw new Error('data-parallel-worker.ts runs only as a worker thread of DataParallelTrainer');

const setup = workerData as ReplicaSetup;
const models = new Map<string, tf.LayersModel>();

interface Job {
  model: tf.LayersModel;
  data: Dataset;
  optimizer: tf.Optimizer;
  prox: Proximal;
}
let job: Job | undefined;

function send(message: FromReplica, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(message, transfer);
}

function endJob(): void {
  if (!job) return;
  job.optimizer.dispose();
  job.prox.anchors.forEach((a) => a.dispose());
  job = undefined;
}

async function handle(message: ToReplica): Promise<void> {
  switch (message.kind) {
    case 'start': {
      endJob();
      const key = JSON.stringify(message.topology);
      let model = models.get(key);
      if (!model) {
        model = await buildModel(message.topology as Record<string, unknown>);
        models.set(key, model);
      }
      setFlatWeights(model, message.weights);
      const vars = trainableVariables(model);
      const mu = message.config.proximalMu ?? 0;
      const anchors = mu > 0 ? vars.map((v) => tf.keep(v.clone())) : [];
      const data = { x: setup.x, y: setup.y, ...message.shape };
      job = { model, data, optimizer: makeOptimizer(message.config), prox: { mu, vars, anchors } };
      return;
    }
    case 'gradient': {
      if (!job) throw new Error('gradient asked before a training job started');
      const { model, prox } = job;
      const { indices, scale } = message;
      const { xs, ys } = batchTensors(job.data, indices, 0, indices.length);
      let predicted: tf.Tensor | undefined;
      const { value, grads } = tf.variableGrads(() => {
        const out = batchLoss(model, xs, ys, prox);
        predicted = tf.keep(out.predicted);
        return out.loss;
      }, prox.vars);
      const size = prox.vars.reduce((s, v) => s + v.size, 0);
      const gradient = new Float32Array(size);
      let off = 0;
      for (const v of prox.vars) {
        const g = grads[v.name].dataSync() as Float32Array;
        for (let i = 0; i < g.length; i++) gradient[off + i] = g[i] * scale;
        off += g.length;
      }
      const loss = value.dataSync()[0];
      const labels = predicted!.dataSync();
      let correct = 0;
      for (let i = 0; i < indices.length; i++) if (labels[i] === setup.y[indices[i]]) correct++;
      tf.dispose([value, predicted!, xs, ys, ...Object.values(grads)]);
      send({ kind: 'gradient', step: message.step, gradient, loss, correct }, [gradient.buffer]);
      return;
    }
    case 'apply': {
      if (!job) throw new Error('update sent before a training job started');
      const named: tf.NamedTensorMap = {};
      let off = 0;
      for (const v of job.prox.vars) {
        named[v.name] = tf.tensor(message.gradient.subarray(off, off + v.size), v.shape, 'float32');
        off += v.size;
      }
      job.optimizer.applyGradients(named);
      tf.dispose(Object.values(named));
      return;
    }
    case 'weights': {
      if (!job) throw new Error('weights asked before a training job started');
      const weights = getFlatWeights(job.model);
      endJob();
      send({ kind: 'weights', weights }, [weights.buffer as ArrayBuffer]);
      return;
    }
    default: {
      const never: never = message;
      throw new Error(`unexpected message ${JSON.stringify(never)}`);
    }
  }
}

// The parent resolved --backend and FEDSERVE_BACKEND already: replicas run exactly its backend.
await setupBackend(setup.backend, { log: () => {}, argv: [], env: {} });
send({ kind: 'ready' });

// Messages are handled strictly in order: a job's start must finish before its first gradient.
let queue = Promise.resolve();
port.on('message', (message: ToReplica) => {
  queue = queue.then(() =>
    handle(message).catch((err: unknown) =>
      send({ kind: 'failed', message: err instanceof Error ? err.message : String(err) }),
    ),
  );
});
