import type { Dataset } from '../shared/data/dataset.js';
import type { BackendName } from '../shared/engine/backend.js';
import type { TrainConfig } from '../shared/training.js';

/**
 * Messages between a data-parallel trainer and its replicas: Node worker threads (DataParallelTrainer)
 * or a page's Web Workers (WebWorkerTrainer). Both ends are this package's code in one process or
 * page, so the messages are not validated.
 */

export interface ReplicaSetup {
  backend: BackendName;
  /** Where a browser replica fetches the tfjs wasm binaries (the page's own prefix); Node finds them itself. */
  wasmPath?: string;
  /**
   * The client's features and labels. On SharedArrayBuffers where the platform has them (Node, a
   * cross-origin-isolated page): every replica reads them, none copies them. Otherwise a copy each.
   */
  x: Float32Array;
  y: Int32Array;
}

export type ToReplica =
  /** The first message: start this backend on these data, then answer 'ready'. */
  | { kind: 'setup'; setup: ReplicaSetup }
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
