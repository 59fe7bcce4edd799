import * as tf from '@tensorflow/tfjs';
import type { Dataset } from '../shared/data/dataset.js';
import { setupBackend } from '../shared/engine/backend.js';
import { getFlatWeights, setFlatWeights } from '../shared/model/weights.js';
import { buildModel } from '../shared/task.js';
import { batchLoss, batchTensors, makeOptimizer, trainableVariables, type Proximal } from '../shared/training.js';
import type { FromReplica, ReplicaSetup, ToReplica } from './data-parallel-protocol.js';

/**
 * One replica of a data-parallel trainer, whatever runs it (a Node worker thread or a Web Worker):
 * computes the gradient of its shard of each batch, then applies the combined gradient it is sent,
 * so every replica's weights and optimizer state stay identical.
 */

export type SendToTrainer = (message: FromReplica, transfer?: ArrayBuffer[]) => void;

interface Job {
  model: tf.LayersModel;
  data: Dataset;
  optimizer: tf.Optimizer;
  prox: Proximal;
}

class ReplicaState {
  private setup: ReplicaSetup | undefined;
  private readonly models = new Map<string, tf.LayersModel>();
  private job: Job | undefined;

  constructor(private readonly send: SendToTrainer) {}

  async handle(message: ToReplica): Promise<void> {
    switch (message.kind) {
      case 'setup': {
        const { backend, wasmPath } = message.setup;
        // The trainer resolved --backend and FEDSERVE_BACKEND already: replicas run exactly its backend.
        await setupBackend(backend, { log: () => {}, argv: [], env: {}, ...(wasmPath ? { wasmPath } : {}) });
        if (tf.getBackend() !== backend) throw new Error(`backend '${backend}' did not start in the replica`);
        this.setup = message.setup;
        this.send({ kind: 'ready' });
        return;
      }
      case 'start': {
        if (!this.setup) throw new Error('training job sent before the replica was set up');
        this.endJob();
        const key = JSON.stringify(message.topology);
        let model = this.models.get(key);
        if (!model) {
          model = await buildModel(message.topology as Record<string, unknown>);
          this.models.set(key, model);
        }
        setFlatWeights(model, message.weights);
        const vars = trainableVariables(model);
        const mu = message.config.proximalMu ?? 0;
        const anchors = mu > 0 ? vars.map((v) => tf.keep(v.clone())) : [];
        const data = { x: this.setup.x, y: this.setup.y, ...message.shape };
        this.job = { model, data, optimizer: makeOptimizer(message.config), prox: { mu, vars, anchors } };
        return;
      }
      case 'gradient':
        this.gradient(this.current('gradient asked'), message.step, message.indices, message.scale);
        return;
      case 'apply': {
        const job = this.current('update sent');
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
        const weights = getFlatWeights(this.current('weights asked').model);
        this.endJob();
        this.send({ kind: 'weights', weights }, [weights.buffer as ArrayBuffer]);
        return;
      }
      default: {
        const never: never = message;
        throw new Error(`unexpected message ${JSON.stringify(never)}`);
      }
    }
  }

  private current(what: string): Job {
    if (!this.job) throw new Error(`${what} before a training job started`);
    return this.job;
  }

  private gradient(job: Job, step: number, indices: Int32Array, scale: number): void {
    const { model, prox } = job;
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
    for (let i = 0; i < indices.length; i++) if (labels[i] === job.data.y[indices[i]]) correct++;
    tf.dispose([value, predicted!, xs, ys, ...Object.values(grads)]);
    this.send({ kind: 'gradient', step, gradient, loss, correct }, [gradient.buffer]);
  }

  private endJob(): void {
    if (!this.job) return;
    this.job.optimizer.dispose();
    this.job.prox.anchors.forEach((a) => a.dispose());
    this.job = undefined;
  }
}

/**
 * A replica answering through `send`; returns the function to call with each message it receives.
 * Messages are handled strictly in order: a job's start must finish before its first gradient. A
 * message that fails is answered with 'failed', which ends the trainer's use of this replica.
 */
export function serveReplica(send: SendToTrainer): (message: ToReplica) => void {
  const state = new ReplicaState(send);
  let queue = Promise.resolve();
  return (message) => {
    queue = queue.then(() =>
      state
        .handle(message)
        .catch((err: unknown) => send({ kind: 'failed', message: err instanceof Error ? err.message : String(err) })),
    );
  };
}
