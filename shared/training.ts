import * as tf from '@tensorflow/tfjs';
import { emptyConfusion, type ConfusionMatrix } from './aggregation/class-metrics.js';
import { featureSize, type Dataset } from './data/dataset.js';
import { HeapAdam } from './engine/wasm/heap-adam.js';
import { applyForTraining } from './model/training-forward.js';
import { permutation, seededRng } from './random.js';

/** Hyperparameters the coordinator sends with each round. */
export interface TrainConfig {
  epochs: number;
  batchSize: number;
  learningRate: number;
  optimizer: 'sgd' | 'adam';
  /** FedProx proximal term weight (0 = plain FedAvg local training). */
  proximalMu?: number;
  /** Seeds the batch order so a run can be repeated. */
  seed?: number;
}

export interface TrainResult {
  loss: number;
  accuracy: number;
  numExamples: number;
}

export interface EvalResult {
  loss: number;
  accuracy: number;
  numExamples: number;
  /** confusion[true class][predicted class], over the model's output classes. */
  confusion: ConfusionMatrix;
}

export type ProgressFn = (done: number, total: number, loss: number) => void;

export function makeOptimizer(cfg: TrainConfig): tf.Optimizer {
  switch (cfg.optimizer) {
    case 'sgd':
      return tf.train.sgd(cfg.learningRate);
    case 'adam':
      return tf.getBackend() === 'wasm' ? new HeapAdam(cfg.learningRate) : tf.train.adam(cfg.learningRate);
    default: {
      const never: never = cfg.optimizer;
      throw new Error(`unknown optimizer ${String(never)}`);
    }
  }
}

/** The examples at idx[from..to) as an input tensor and one-hot labels. */
export function batchTensors(ds: Dataset, idx: Int32Array, from: number, to: number): { xs: tf.Tensor; ys: tf.Tensor } {
  const f = featureSize(ds);
  const count = to - from;
  const x = new Float32Array(count * f);
  const y = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const src = idx[from + i];
    x.set(ds.x.subarray(src * f, (src + 1) * f), i * f);
    y[i] = ds.y[src];
  }
  return tf.tidy(() => ({
    xs: tf.tensor(x, [count, ...ds.inputShape]),
    ys: tf.oneHot(tf.tensor1d(y, 'int32'), ds.numClasses).toFloat(),
  }));
}

/**
 * A macrotask turn: setImmediate where it exists (Node), which runs after pending I/O without
 * waiting; setTimeout(0) waits at least 1 ms in Node, 2% of training time at one turn per 50 ms.
 */
const setImmediateIfAny = (globalThis as { setImmediate?: (fn: () => void) => unknown }).setImmediate;
const nextMacrotask = (): Promise<void> =>
  new Promise<void>((resolve) => (setImmediateIfAny ? setImmediateIfAny(resolve) : setTimeout(resolve, 0)));

/**
 * Lets timers and sockets run during a long training loop. The wasm backend's data() resolves as a
 * microtask, so without this a client training for longer than socket.io's ping timeout (45 s by
 * default, reached on a loaded machine) would be disconnected mid-round. A macrotask turn every
 * 50 ms costs well under 1% of the training time.
 */
class EventLoopBreather {
  private last = performance.now();

  async maybe(): Promise<void> {
    if (performance.now() - this.last < 50) return;
    await nextMacrotask();
    this.last = performance.now();
  }
}

export interface Proximal {
  mu: number;
  vars: tf.Variable[];
  /** The weights at the start of local training; empty when mu is 0. */
  anchors: tf.Tensor[];
}

/**
 * The training loss of one batch (mean cross-entropy, plus FedProx's proximal term
 * mu/2 * ||w - w_global||^2) and the predicted classes. Call inside a gradient scope.
 */
export function batchLoss(
  model: tf.LayersModel,
  xs: tf.Tensor,
  ys: tf.Tensor,
  prox: Proximal,
): { loss: tf.Scalar; predicted: tf.Tensor } {
  const p = applyForTraining(model, xs);
  let loss = tf.mean<tf.Scalar>(tf.metrics.categoricalCrossentropy(ys, p));
  if (prox.mu > 0) {
    const sq = tf.addN(prox.vars.map((v, i) => tf.sum(tf.square(tf.sub(v, prox.anchors[i])))));
    loss = tf.add<tf.Scalar>(loss, tf.mul(prox.mu / 2, sq));
  }
  return { loss, predicted: p.argMax(-1) };
}

/** The model's trainable variables, in trainableWeights order. */
export function trainableVariables(model: tf.LayersModel): tf.Variable[] {
  return model.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);
}

/**
 * Local training with a custom loop (rather than model.fit) so that FedProx's proximal term
 * mu/2 * ||w - w_global||^2 can be added to the loss.
 */
export async function trainLocal(
  model: tf.LayersModel,
  ds: Dataset,
  cfg: TrainConfig,
  onProgress?: ProgressFn,
): Promise<TrainResult> {
  if (ds.n === 0) throw new Error('cannot train on an empty dataset');
  const optimizer = makeOptimizer(cfg);
  const vars = trainableVariables(model);
  const mu = cfg.proximalMu ?? 0;
  const anchors = mu > 0 ? vars.map((v) => tf.keep(v.clone())) : [];
  const rng = seededRng(cfg.seed ?? 1);
  const batches = Math.ceil(ds.n / cfg.batchSize);
  const totalSteps = batches * cfg.epochs;
  let lossSum = 0;
  let correct = 0;
  let seen = 0;
  let step = 0;
  const breather = new EventLoopBreather();
  try {
    for (let epoch = 0; epoch < cfg.epochs; epoch++) {
      const order = permutation(ds.n, rng);
      const lastEpoch = epoch === cfg.epochs - 1;
      for (let b = 0; b < batches; b++) {
        const from = b * cfg.batchSize;
        const to = Math.min(ds.n, from + cfg.batchSize);
        const { xs, ys } = batchTensors(ds, order, from, to);
        let preds: tf.Tensor | undefined;
        const cost = optimizer.minimize(
          () => {
            const { loss, predicted } = batchLoss(model, xs, ys, { mu, vars, anchors });
            if (lastEpoch) preds = tf.keep(predicted);
            return loss;
          },
          true,
          vars,
        );
        const lossValue = (await cost!.data())[0];
        cost!.dispose();
        if (lastEpoch && preds) {
          const predicted = await preds.data();
          for (let i = 0; i < to - from; i++) if (predicted[i] === ds.y[order[from + i]]) correct++;
          lossSum += lossValue * (to - from);
          seen += to - from;
          preds.dispose();
        }
        xs.dispose();
        ys.dispose();
        step++;
        onProgress?.(step, totalSteps, lossValue);
        await breather.maybe();
      }
    }
  } finally {
    anchors.forEach((a) => a.dispose());
    optimizer.dispose();
  }
  return { loss: lossSum / seen, accuracy: correct / seen, numExamples: ds.n };
}

/** Loss and accuracy of `model` on `ds`, in batches to bound memory. */
export async function evaluate(model: tf.LayersModel, ds: Dataset, batchSize = 500): Promise<EvalResult> {
  if (ds.n === 0) throw new Error('cannot evaluate on an empty dataset');
  const idx = Int32Array.from({ length: ds.n }, (_, i) => i);
  let lossSum = 0;
  let correct = 0;
  const outputs = model.outputs[0].shape[model.outputs[0].shape.length - 1];
  const confusion = emptyConfusion(Math.max(ds.numClasses, typeof outputs === 'number' ? outputs : 0));
  for (let from = 0; from < ds.n; from += batchSize) {
    const to = Math.min(ds.n, from + batchSize);
    const { xs, ys } = batchTensors(ds, idx, from, to);
    const [lossT, predT] = tf.tidy((): [tf.Tensor, tf.Tensor] => {
      const p = model.predict(xs) as tf.Tensor;
      return [tf.mean(tf.metrics.categoricalCrossentropy(ys, p)), p.argMax(-1)];
    });
    lossSum += (await lossT.data())[0] * (to - from);
    const pred = await predT.data();
    for (let i = 0; i < to - from; i++) {
      if (pred[i] === ds.y[from + i]) correct++;
      confusion[ds.y[from + i]][pred[i]]++;
    }
    tf.dispose([lossT, predT, xs, ys]);
  }
  return { loss: lossSum / ds.n, accuracy: correct / ds.n, numExamples: ds.n, confusion };
}
