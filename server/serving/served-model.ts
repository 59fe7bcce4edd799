import * as tf from '@tensorflow/tfjs';
import { getFlatWeights, parameterCount, weightSpecs } from '../../shared/model/weights.js';
import { tfjsModelJson, type ModelArtifact, type TfjsModelJson } from '../store/tfjs-model-json.js';

/** Topology and weights of a Layers model, copied out so the caller keeps ownership of the model. */
export function artifactFromModel(model: tf.LayersModel): ModelArtifact {
  return {
    modelTopology: model.toJSON(null, false) as object,
    weightSpecs: weightSpecs(model),
    weights: getFlatWeights(model),
  };
}

function knownDims(what: string, shape: (number | null)[]): number[] {
  const dims = shape.slice(1);
  if (dims.some((d) => d === null)) throw new Error(`cannot serve a model whose ${what} shape [${shape.join(', ')}] has unknown dimensions`);
  return dims as number[];
}

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * One immutable model version ready to predict. Retiring it (eviction from the registry) defers
 * disposal to a later event-loop turn and past in-flight predictions, so a caller that got this
 * model and calls predict() without awaiting anything in between never sees it disposed.
 */
export class ServedModel {
  readonly inputShape: number[];
  readonly outputShape: number[];
  readonly inputName: string;
  readonly outputName: string;
  readonly featureSize: number;
  readonly outputSize: number;
  private inFlight = 0;
  private retired = false;
  private disposed = false;

  private constructor(
    readonly version: number,
    /** The training round that produced this version, when known. */
    readonly round: number | null,
    readonly artifact: ModelArtifact,
    private readonly model: tf.LayersModel,
    private readonly maxBatch: number,
  ) {
    if (model.inputs.length !== 1 || model.outputs.length !== 1) {
      throw new Error(`serving needs a single-input single-output model; this one has ${model.inputs.length} inputs and ${model.outputs.length} outputs`);
    }
    this.inputShape = knownDims('input', model.inputs[0].shape);
    this.outputShape = knownDims('output', model.outputs[0].shape);
    // Layer names: a Sequential model leaves inputNames/outputNames empty until compiled.
    this.inputName = model.inputs[0].sourceLayer.name;
    this.outputName = model.outputs[0].sourceLayer.name;
    this.featureSize = this.inputShape.reduce((a, b) => a * b, 1);
    this.outputSize = this.outputShape.reduce((a, b) => a * b, 1);
  }

  static async create(version: number, round: number | null, artifact: ModelArtifact, maxBatch: number): Promise<ServedModel> {
    const expected = parameterCount(artifact.weightSpecs);
    if (artifact.weights.length !== expected) {
      throw new Error(`version ${version}: weights have ${artifact.weights.length} values, the weight specs need ${expected}`);
    }
    const w = artifact.weights;
    const model = await tf.loadLayersModel(
      tf.io.fromMemory({
        modelTopology: artifact.modelTopology as tf.io.ModelArtifacts['modelTopology'],
        weightSpecs: artifact.weightSpecs.map((s) => ({ name: s.name, shape: s.shape, dtype: 'float32' as const })),
        weightData: w.buffer.slice(w.byteOffset, w.byteOffset + w.byteLength) as ArrayBuffer,
      }),
    );
    try {
      return new ServedModel(version, round, artifact, model, maxBatch);
    } catch (e) {
      model.dispose();
      throw e;
    }
  }

  get parameterCount(): number {
    return this.artifact.weights.length;
  }

  /**
   * Outputs for n instances given as n * featureSize values, in batches of at most maxBatch, each
   * inside tf.tidy; yields to the event loop between batches so sockets stay responsive.
   */
  async predict(x: Float32Array, n: number): Promise<Float32Array> {
    if (x.length !== n * this.featureSize) throw new Error(`predict got ${x.length} values for ${n} instances of ${this.featureSize}`);
    const release = this.reserve();
    try {
      const out = new Float32Array(n * this.outputSize);
      for (let start = 0; start < n; start += this.maxBatch) {
        const count = Math.min(this.maxBatch, n - start);
        const batch = x.subarray(start * this.featureSize, (start + count) * this.featureSize);
        const y = tf.tidy(() => this.model.predict(tf.tensor(batch, [count, ...this.inputShape], 'float32')) as tf.Tensor);
        try {
          out.set(await y.data<'float32'>(), start * this.outputSize);
        } finally {
          y.dispose();
        }
        if (start + count < n) await yieldToEventLoop();
      }
      return out;
    } finally {
      release();
    }
  }

  /**
   * Keeps the model loaded until the returned function is called (once; later calls do nothing):
   * a request waiting in a batch queue holds its version this way.
   */
  reserve(): () => void {
    if (this.disposed) throw new Error(`version ${this.version} has been unloaded`);
    this.inFlight++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.inFlight--;
      if (this.retired) setImmediate(() => this.disposeIfIdle());
    };
  }

  /** model.json for this version with its single weights file at `weightsPath` (relative URL). */
  modelJson(weightsPath: string): TfjsModelJson {
    return tfjsModelJson(this.artifact, weightsPath);
  }

  /** The weights file: little-endian float32, weightSpecs order. */
  weightBytes(): Uint8Array {
    const w = this.artifact.weights;
    return new Uint8Array(w.buffer, w.byteOffset, w.byteLength);
  }

  /** Frees the model's tensors once no prediction is using them. Idempotent. */
  retire(): void {
    if (this.retired) return;
    this.retired = true;
    setImmediate(() => this.disposeIfIdle());
  }

  private disposeIfIdle(): void {
    if (!this.retired || this.disposed || this.inFlight > 0) return;
    this.disposed = true;
    this.model.dispose();
  }
}
