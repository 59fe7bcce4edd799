import { parentPort } from 'node:worker_threads';
import type { ToReplica } from './data-parallel-protocol.js';
import { serveReplica } from './data-parallel-replica.js';

/** Entry of a DataParallelTrainer worker thread: one replica (data-parallel-replica.ts) on the parent port. */

const port = parentPort;
if (!port) throw new Error('data-parallel-worker.ts runs only as a worker thread of DataParallelTrainer');
const receive = serveReplica((message, transfer = []) => port.postMessage(message, transfer));
port.on('message', (message: ToReplica) => receive(message));
