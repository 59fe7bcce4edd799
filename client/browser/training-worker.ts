import type { ToReplica } from '../data-parallel-protocol.js';
import { serveReplica } from '../data-parallel-replica.js';

/**
 * Entry of a WebWorkerTrainer replica (`/web/training-worker.js`, a module Web Worker): one replica
 * (data-parallel-replica.ts) answering the page through postMessage.
 */

/** The parts of DedicatedWorkerGlobalScope used here (the page's tsconfig has the DOM lib, not WebWorker). */
interface WorkerScope {
  postMessage(message: unknown, transfer: Transferable[]): void;
  addEventListener(type: 'message', listener: (event: MessageEvent<ToReplica>) => void): void;
}

const scope = self as unknown as WorkerScope;
const receive = serveReplica((message, transfer = []) => scope.postMessage(message, transfer));
scope.addEventListener('message', (event) => receive(event.data));
