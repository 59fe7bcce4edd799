import type { Dataset } from '../shared/data/dataset.js';
import type { BackendName } from '../shared/engine/backend.js';
import type { TrainConfig } from '../shared/training.js';

/** Messages between DataParallelTrainer and its worker threads (Node-only, same process: no validation). */

export interface ReplicaSetup {
  backend: BackendName;
  /** The client's features and labels on SharedArrayBuffers: every replica reads them, none copies them. */
  x: Float32Array;
  y: Int32Array;
}

export type ToReplica =
  /** Start a training job: load these weights and a fresh optimizer; read the shared data with this shape. */
  | {
      kind: 'start';
      topology: object;
      weights: Float32Array;
      config: TrainConfig;
      shape: Pick<Dataset, 'n' | 'inputShape' | 'numClasses'>;
    }
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
