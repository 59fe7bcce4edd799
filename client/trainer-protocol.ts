import type { Dataset } from '../shared/data/dataset.js';
import type { BackendName } from '../shared/engine/backend.js';
import type { TrainConfig, TrainResult } from '../shared/training.js';

/** Messages between TrainerPool and its worker threads (Node-only, same process: no validation). */

/** The built-in seed CNN, or a Keras-format layers topology (`model.toJSON(undefined, false)`). */
export type ModelSpec = 'seed-cnn' | { topology: object };

export interface TrainJob {
  model: ModelSpec;
  /** Starting weights in `getFlatWeights` order. */
  weights: Float32Array;
  data: Dataset;
  config: TrainConfig;
}

export interface TrainOutcome {
  weights: Float32Array;
  result: TrainResult;
}

export interface WorkerSetup {
  backend: BackendName | undefined;
}

export type ToWorker = { kind: 'train'; id: number; job: TrainJob };

export type FromWorker =
  | { kind: 'ready'; backend: BackendName }
  | { kind: 'done'; id: number; outcome: TrainOutcome }
  | { kind: 'failed'; id: number; message: string };
