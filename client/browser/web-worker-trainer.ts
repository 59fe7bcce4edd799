import { DataParallelCore, type ReplicaChannel } from '../data-parallel-core.js';
import type { FromReplica } from '../data-parallel-protocol.js';
import { WASM_PATH } from './browser-backend.js';

/** Where the coordinator serves the replica's bundle (server/web/bundle.ts builds it). */
export const TRAINING_WORKER_URL = '/web/training-worker.js';

export interface WebWorkerTrainerOptions {
  /** Web Workers sharing each batch; 1 trains in the page's thread. */
  threads: number;
  /** Receives one line when the trainer falls back to the page's thread. */
  log?: (line: string) => void;
  /** The replica script; default TRAINING_WORKER_URL. */
  workerUrl?: string;
}

function webWorkerChannel(url: string): ReplicaChannel {
  const worker = new Worker(url, { type: 'module', name: 'fedserve training replica' });
  return {
    post: (message, transfer) => worker.postMessage(message, transfer),
    listen: (received, failed) => {
      worker.addEventListener('message', (event: MessageEvent<FromReplica>) => received(event.data));
      // A script error carries its message; a script that did not load (404, refused by a policy) does not.
      worker.addEventListener('error', (event) =>
        failed(new Error(event.message ? event.message : `${url} did not load as a module worker`)),
      );
      worker.addEventListener('messageerror', () => failed(new Error('a training replica sent an unreadable message')));
    },
    terminate: () => {
      worker.terminate();
      return Promise.resolve();
    },
  };
}

/**
 * Data-parallel local training in a page (DataParallelCore) on module Web Workers, each running the
 * wasm engine. Without cross-origin isolation a page has no SharedArrayBuffer, so each worker gets
 * its own copy of the data, once.
 */
export class WebWorkerTrainer extends DataParallelCore {
  constructor(opts: WebWorkerTrainerOptions) {
    const url = opts.workerUrl ?? TRAINING_WORKER_URL;
    super(opts, { spawn: () => webWorkerChannel(url), noun: 'Web Workers', wasmPath: WASM_PATH });
  }
}
