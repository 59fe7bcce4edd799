import * as tf from '@tensorflow/tfjs';
import type { ModelArtifact } from '../store/tfjs-model-json.js';

/** What serving needs to know of a loaded model's signature. */
export interface ModelSignature {
  inputShape: number[];
  outputShape: number[];
  inputName: string;
  outputName: string;
}

/** Runs forward passes of one loaded model version, on this thread or another. */
export interface ModelRunner {
  readonly signature: ModelSignature;
  /** Outputs of n instances (n * input size values), in passes of at most maxBatch instances. */
  predict(x: Float32Array, n: number, maxBatch: number): Promise<Float32Array>;
  dispose(): void;
}

function knownDims(what: string, shape: (number | null)[]): number[] {
  const dims = shape.slice(1);
  if (dims.some((d) => d === null))
    throw new Error(`cannot serve a model whose ${what} shape [${shape.join(', ')}] has unknown dimensions`);
  return dims as number[];
}

/** Builds a Layers model from an artifact and reads its signature; the caller disposes the model. */
export async function loadLayersModel(
  artifact: Pick<ModelArtifact, 'modelTopology' | 'weightSpecs' | 'weights'>,
): Promise<{ model: tf.LayersModel; signature: ModelSignature }> {
  const w = artifact.weights;
  const model = await tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: artifact.modelTopology as tf.io.ModelArtifacts['modelTopology'],
      weightSpecs: artifact.weightSpecs.map((s) => ({ name: s.name, shape: s.shape, dtype: 'float32' as const })),
      weightData: w.buffer.slice(w.byteOffset, w.byteOffset + w.byteLength) as ArrayBuffer,
    }),
  );
  try {
    if (model.inputs.length !== 1 || model.outputs.length !== 1) {
      throw new Error(
        `serving needs a single-input single-output model; this one has ${model.inputs.length} inputs and ${model.outputs.length} outputs`,
      );
    }
    const signature: ModelSignature = {
      inputShape: knownDims('input', model.inputs[0].shape),
      outputShape: knownDims('output', model.outputs[0].shape),
      // Layer names: a Sequential model leaves inputNames/outputNames empty until compiled.
      inputName: model.inputs[0].sourceLayer.name,
      outputName: model.outputs[0].sourceLayer.name,
    };
    return { model, signature };
  } catch (e) {
    model.dispose();
    throw e;
  }
}

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Forward passes in batches of at most maxBatch, each inside tf.tidy; with `yieldBetween`, yields to
 * the event loop between batches so sockets stay responsive.
 */
export async function runBatches(
  model: tf.LayersModel,
  signature: ModelSignature,
  x: Float32Array,
  n: number,
  maxBatch: number,
  yieldBetween: boolean,
): Promise<Float32Array> {
  const featureSize = signature.inputShape.reduce((a, b) => a * b, 1);
  const outputSize = signature.outputShape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n * outputSize);
  for (let start = 0; start < n; start += maxBatch) {
    const count = Math.min(maxBatch, n - start);
    const batch = x.subarray(start * featureSize, (start + count) * featureSize);
    const y = tf.tidy(() => model.predict(tf.tensor(batch, [count, ...signature.inputShape], 'float32')) as tf.Tensor);
    try {
      out.set(await y.data<'float32'>(), start * outputSize);
    } finally {
      y.dispose();
    }
    if (yieldBetween && start + count < n) await yieldToEventLoop();
  }
  return out;
}

/** The model on this thread's TensorFlow.js backend. */
export class LocalRunner implements ModelRunner {
  private constructor(
    private readonly model: tf.LayersModel,
    readonly signature: ModelSignature,
  ) {}

  static async load(artifact: ModelArtifact): Promise<LocalRunner> {
    const { model, signature } = await loadLayersModel(artifact);
    return new LocalRunner(model, signature);
  }

  predict(x: Float32Array, n: number, maxBatch: number): Promise<Float32Array> {
    return runBatches(this.model, this.signature, x, n, maxBatch, true);
  }

  dispose(): void {
    this.model.dispose();
  }
}
