import type { BackendName } from '../../shared/engine/backend.js';
import type { WeightSpec } from '../../shared/model/weights.js';
import type { ModelSignature } from './model-runner.js';

/** Messages between InferenceEngine and its worker thread (same process, our own code: no validation). */

export type ToInferenceWorker =
  | { kind: 'load'; id: number; key: number; modelTopology: object; weightSpecs: WeightSpec[]; weights: Float32Array }
  | { kind: 'predict'; id: number; key: number; x: Float32Array; n: number; maxBatch: number }
  | { kind: 'unload'; key: number };

export type FromInferenceWorker =
  | { kind: 'ready'; backend: BackendName }
  | { kind: 'loaded'; id: number; signature: ModelSignature }
  | { kind: 'result'; id: number; y: Float32Array }
  | { kind: 'failed'; id: number; message: string };
