import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setupBackend } from '../../shared/engine/backend.js';
import type { RunningCoordinator } from '../../server/app.js';
import { nextRounds, startClient, startTestCoordinator, tempDir, type TestClient } from './helpers.js';

/** `--model path/to/model.json` federates any Layers classifier; clients bring CSV / JSON-lines data. */

let dir: Awaited<ReturnType<typeof tempDir>>;
let server: RunningCoordinator;
const clients: TestClient[] = [];

/** Writes `model` as model.json + weights.bin, the files `tf.loadLayersModel` reads. */
async function saveModel(model: tf.LayersModel, path: string): Promise<void> {
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const weightData = artifacts.weightData as ArrayBuffer;
      await writeFile(join(path, 'weights.bin'), Buffer.from(weightData));
      const json = {
        format: 'layers-model',
        modelTopology: artifacts.modelTopology,
        weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs }],
      };
      await writeFile(join(path, 'model.json'), JSON.stringify(json));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
}

/** Two separable blobs in 4 dimensions, class = which blob. */
function rows(n: number, offset: number): { x: number[]; y: number }[] {
  return Array.from({ length: n }, (_, i) => {
    const y = (i + offset) % 2;
    return { x: [0, 1, 2, 3].map((k) => (y === 1 ? 1 : -1) + 0.1 * Math.sin(i * 7 + k)), y };
  });
}

beforeAll(async () => {
  await setupBackend('wasm', { log: () => undefined });
  dir = await tempDir();
  const model = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 2, activation: 'softmax' })] });
  await saveModel(model, dir.path);
  model.dispose();
  const csv = ['f0,f1,f2,f3,kind', ...rows(40, 0).map((r) => [...r.x, r.y].join(','))].join('\n');
  await writeFile(join(dir.path, 'a.csv'), csv);
  await writeFile(
    join(dir.path, 'b.jsonl'),
    rows(40, 1)
      .map((r) => JSON.stringify(r))
      .join('\n'),
  );
  server = await startTestCoordinator(join(dir.path, 'data'), {
    task: 'blobs',
    model: join(dir.path, 'model.json'),
    eval: join(dir.path, 'b.jsonl'),
    rounds: { selectionWindowMs: 0, trainingTimeoutMs: 30_000 },
    training: { learningRate: 0.5, batchSize: 8 },
  });
});

afterAll(async () => {
  for (const c of clients) c.client.stop();
  await Promise.all(clients.map((c) => c.done.catch(() => undefined)));
  await server?.close();
  await dir.remove();
});

describe('a task from a model.json', () => {
  it('federates a CSV client and a JSON-lines client and serves the result under the task name', async () => {
    expect(server.coordinator.task.info).toEqual({ name: 'blobs', inputShape: [4], numClasses: 2, parameterCount: 10 });
    const round = nextRounds(server, 1);
    server.coordinator.startRounds(1);
    const csvClient = startClient(server.url, join(dir.path, 'a.csv'), 'csv', undefined, 'kind');
    clients.push(csvClient, startClient(server.url, join(dir.path, 'b.jsonl'), 'jsonl'));
    const [record] = await round;
    expect(record).toMatchObject({ status: 'committed', numExamples: 80 });

    // The held-out loss of the committed version is below that of the initial model.json weights.
    const heldOut = rows(40, 1);
    const predict = async (version: number) => {
      const res = await fetch(`${server.url}/v1/models/blobs/versions/${version}:predict`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ instances: heldOut.map((r) => r.x) }),
      });
      expect(res.status).toBe(200);
      return ((await res.json()) as { predictions: number[][] }).predictions;
    };
    const crossEntropy = (p: number[][]) => -p.reduce((s, row, i) => s + Math.log(row[heldOut[i].y]), 0) / p.length;
    const initialLoss = crossEntropy(await predict(0));
    const trainedLoss = crossEntropy(await predict(1));
    expect(record.evaluation!.loss).toBeCloseTo(trainedLoss, 4);
    expect(trainedLoss).toBeLessThan(initialLoss);
    expect((await fetch(`${server.url}/v1/models/mnist`)).status).toBe(404);
  });
});
