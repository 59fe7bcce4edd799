import * as tf from '@tensorflow/tfjs';
import { parentPort, workerData } from 'node:worker_threads';
import { setupBackend } from '../shared/engine/backend.js';
import { createSeedCnn } from '../shared/model/seed-cnn.js';
import { getFlatWeights, setFlatWeights } from '../shared/model/weights.js';
import { trainLocal } from '../shared/training.js';
import type { FromWorker, ModelSpec, ToWorker, WorkerSetup } from './trainer-protocol.js';

/** One TrainerPool thread: trains one job at a time, reusing the model built for each topology. */

const port = parentPort;
if (!port) throw new Error('trainer-worker.ts runs only as a worker thread of TrainerPool');

const setup = workerData as WorkerSetup;
const models = new Map<string, tf.LayersModel>();

async function modelFor(spec: ModelSpec): Promise<tf.LayersModel> {
  const key = spec === 'seed-cnn' ? spec : JSON.stringify(spec.topology);
  let model = models.get(key);
  if (!model) {
    model =
      spec === 'seed-cnn'
        ? createSeedCnn()
        : await tf.models.modelFromJSON({ modelTopology: spec.topology } as Parameters<
            typeof tf.models.modelFromJSON
          >[0]);
    models.set(key, model);
  }
  return model;
}

function send(message: FromWorker, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(message, transfer);
}

const backend = await setupBackend(setup.backend, { log: () => {}, argv: [] });
send({ kind: 'ready', backend });

async function train(message: ToWorker): Promise<void> {
  const { id, job } = message;
  try {
    const model = await modelFor(job.model);
    setFlatWeights(model, job.weights);
    const result = await trainLocal(model, job.data, job.config);
    const weights = getFlatWeights(model);
    send({ kind: 'done', id, outcome: { weights, result } }, [weights.buffer as ArrayBuffer]);
  } catch (err) {
    send({ kind: 'failed', id, message: err instanceof Error ? err.message : String(err) });
  }
}

// train() reports its own failures, so its promise never rejects.
port.on('message', (message: ToWorker) => void train(message));
