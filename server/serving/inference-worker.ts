import type * as tf from '@tensorflow/tfjs';
import { parentPort, workerData } from 'node:worker_threads';
import { setupBackend, type BackendName } from '../../shared/engine/backend.js';
import type { FromInferenceWorker, ToInferenceWorker } from './inference-protocol.js';
import { loadLayersModel, runBatches, type ModelSignature } from './model-runner.js';

/** The inference thread of InferenceEngine: holds loaded model versions and runs their forward passes, one at a time. */

const port = parentPort;
if (!port) throw new Error('inference-worker.ts runs only as the worker thread of InferenceEngine');

const models = new Map<number, { model: tf.LayersModel; signature: ModelSignature }>();

function send(message: FromInferenceWorker, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(message, transfer);
}

const backend = await setupBackend((workerData as { backend: BackendName }).backend, { log: () => {}, argv: [] });
send({ kind: 'ready', backend });

// Messages are handled in order; a load or predict awaits only its own work, so passes never overlap.
let queue = Promise.resolve();
port.on('message', (message: ToInferenceWorker) => {
  queue = queue.then(() => handle(message));
});

async function handle(message: ToInferenceWorker): Promise<void> {
  switch (message.kind) {
    case 'unload':
      models.get(message.key)?.model.dispose();
      models.delete(message.key);
      return;
    case 'load':
      try {
        const loaded = await loadLayersModel(message);
        models.set(message.key, loaded);
        send({ kind: 'loaded', id: message.id, signature: loaded.signature });
      } catch (e) {
        send({ kind: 'failed', id: message.id, message: (e as Error).message });
      }
      return;
    case 'predict':
      try {
        const loaded = models.get(message.key);
        if (!loaded) throw new Error(`model ${message.key} is not loaded in the inference thread`);
        const y = await runBatches(loaded.model, loaded.signature, message.x, message.n, message.maxBatch, false);
        send({ kind: 'result', id: message.id, y }, [y.buffer as ArrayBuffer]);
      } catch (e) {
        send({ kind: 'failed', id: message.id, message: (e as Error).message });
      }
      return;
    default: {
      const never: never = message;
      throw new Error(`unknown inference message ${JSON.stringify(never)}`);
    }
  }
}
