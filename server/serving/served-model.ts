import * as tf from '@tensorflow/tfjs';
import { getFlatWeights, parameterCount, weightSpecs } from '../../shared/model/weights.js';
import { tfjsModelJson, type ModelArtifact, type TfjsModelJson } from '../store/tfjs-model-json.js';
import type { InferenceEngine } from './inference-engine.js';
import { LocalRunner, type ModelRunner } from './model-runner.js';

/** Topology and weights of a Layers model, copied out so the caller keeps ownership of the model. */
export function artifactFromModel(model: tf.LayersModel): ModelArtifact {
  return {
    modelTopology: model.toJSON(null, false) as object,
    weightSpecs: weightSpecs(model),
    weights: getFlatWeights(model),
  };
}

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
    private readonly runner: ModelRunner,
    private readonly maxBatch: number,
  ) {
    ({
      inputShape: this.inputShape,
      outputShape: this.outputShape,
      inputName: this.inputName,
      outputName: this.outputName,
    } = runner.signature);
    this.featureSize = this.inputShape.reduce((a, b) => a * b, 1);
    this.outputSize = this.outputShape.reduce((a, b) => a * b, 1);
  }

  /** Loads the version on this thread, or in `engine`'s inference thread when given. */
  static async create(
    version: number,
    round: number | null,
    artifact: ModelArtifact,
    maxBatch: number,
    engine?: InferenceEngine,
  ): Promise<ServedModel> {
    const expected = parameterCount(artifact.weightSpecs);
    if (artifact.weights.length !== expected) {
      throw new Error(
        `version ${version}: weights have ${artifact.weights.length} values, the weight specs need ${expected}`,
      );
    }
    const runner = engine ? await engine.load(artifact) : await LocalRunner.load(artifact);
    return new ServedModel(version, round, artifact, runner, maxBatch);
  }

  get parameterCount(): number {
    return this.artifact.weights.length;
  }

  /** Outputs for n instances given as n * featureSize values, in forward passes of at most maxBatch. */
  async predict(x: Float32Array, n: number): Promise<Float32Array> {
    if (x.length !== n * this.featureSize)
      throw new Error(`predict got ${x.length} values for ${n} instances of ${this.featureSize}`);
    const release = this.reserve();
    try {
      return await this.runner.predict(x, n, this.maxBatch);
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
    this.runner.dispose();
  }
}
