import type { Dataset } from '../shared/data/dataset.js';
import type { BackendName } from '../shared/engine/backend.js';
import type { TrainConfig } from '../shared/training.js';

/** Messages between DataParallelTrainer and its worker threads (Node-only, same process: no validation). */

export interface ReplicaSetup {
  backend: BackendName;
  /** The client's data, its x and y on SharedArrayBuffers: every replica reads it, none copies it. */
  data: Dataset;
}

export type ToReplica =
  /** Start a training job: load these weights and a fresh optimizer. */
  | { kind: 'start'; topology: object; weights: Float32Array; config: TrainConfig }
  /** Gradient of this shard's loss (example indices into the data), scaled by `scale` = shard / batch. */
  | { kind: 'gradient'; step: number; indices: Int32Array; scale: number }
  /** The whole batch's gradient: every replica applies it with its own, identical, optimizer state. */
  | { kind: 'apply'; gradient: Float32Array }
  /** Send the trained weights back. */
  | { kind: 'weights' };

export type FromReplica =
  | { kind: 'ready' }
  | {
      kind: 'gradient';
      step: number;
      /** Scaled gradient of every trainable variable, concatenated in trainableWeights order. */
      gradient: Float32Array;
      /** Mean loss over the shard, and how many of its examples the model got right. */
      loss: number;
      correct: number;
    }
  | { kind: 'weights'; weights: Float32Array }
  | { kind: 'failed'; message: string };
