import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import { DataParallelCore, defaultThreadsFor, type ReplicaChannel } from './data-parallel-core.js';
import type { FromReplica } from './data-parallel-protocol.js';
import { startWorker } from './start-worker.js';

/** Default thread count of `fedserve client`: every core, up to 4 (defaultThreadsFor). */
export function defaultTrainingThreads(): number {
  return defaultThreadsFor(availableParallelism());
}

export interface DataParallelOptions {
  /** Worker threads sharing each batch; 1 trains in this thread. */
  threads: number;
  /** Receives one line when the trainer falls back to this thread. */
  log?: (line: string) => void;
  /** Starts one replica thread; default: a node:worker_threads Worker running data-parallel-worker. */
  spawn?: () => Worker;
}

function workerChannel(worker: Worker): ReplicaChannel {
  return {
    post: (message, transfer) => worker.postMessage(message, transfer),
    listen: (received, failed) => {
      worker.on('message', (message: FromReplica) => received(message));
      worker.on('error', failed);
      worker.on('exit', (code) => failed(new Error(`training replica exited with code ${code}`)));
    },
    terminate: async () => {
      await worker.terminate();
    },
  };
}

/**
 * Data-parallel local training on node:worker_threads (DataParallelCore): `fedserve client --threads N`.
 * The data is one SharedArrayBuffer copy that every worker reads.
 */
export class DataParallelTrainer extends DataParallelCore {
  constructor(opts: DataParallelOptions) {
    const spawn = opts.spawn ?? (() => startWorker(import.meta.url, 'data-parallel-worker', undefined));
    super(opts, { spawn: () => workerChannel(spawn()), noun: 'worker threads' });
  }
}
