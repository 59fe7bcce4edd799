import * as tf from '@tensorflow/tfjs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setupBackend } from '../../../shared/engine/backend.js';
import { createSeedCnn } from '../../../shared/model/seed-cnn.js';
import { ModelRegistry } from '../../../server/serving/model-registry.js';
import { BatchingPredictor, DirectPredictor, type Predictor } from '../../../server/serving/predictor.js';
import { handleServing, type ServingContext } from '../../../server/serving/routes.js';
import { CheckpointStore } from '../../../server/store/checkpoint-store.js';
import { lineLogger, silentLogger } from '../../../server/logger.js';

let dir: string;
let registry: ModelRegistry;
const servers: Server[] = [];
const errors: string[] = [];

function image(seed: number): number[] {
  let s = seed;
  return Array.from({ length: 784 }, () => (s = (s * 16807) % 2147483647) / 2147483647);
}

async function serve(predictor: Predictor, extra: Partial<ServingContext> = {}): Promise<string> {
  const ctx: ServingContext = { registry, predictor, logger: lineLogger((l) => errors.push(l)), ...extra };
  const server = createServer((req, res) => void handleServing(req, res, ctx));
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function post(url: string, body: unknown): Promise<{ status: number; retryAfter: string | null; json: any }> {
  const res = await fetch(url, { method: 'POST', body: JSON.stringify(body) });
  return { status: res.status, retryAfter: res.headers.get('retry-after'), json: await res.json() };
}

beforeAll(async () => {
  await setupBackend(undefined, { log: () => {}, argv: [], env: {} });
  dir = await mkdtemp(join(tmpdir(), 'fedserve-batching-'));
  registry = new ModelRegistry(new CheckpointStore(dir, { logger: silentLogger() }));
  for (const version of [1, 2]) {
    const model: tf.LayersModel = createSeedCnn(version);
    await registry.publish(version, model);
    model.dispose();
  }
});
afterAll(async () => {
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  registry.dispose();
  await rm(dir, { recursive: true, force: true });
});

describe('dynamic batching through REST', () => {
  it('answers concurrent requests of mixed sizes and versions as unbatched serving does, in fewer forward passes', async () => {
    const passes: [number, number][] = [];
    // A long timeout so that every request below lands in a batch before any runs.
    const batched = await serve(
      new BatchingPredictor({ maxBatchSize: 16, batchTimeoutMicros: 200_000, maxEnqueuedBatches: 8 }, (v, n) =>
        passes.push([v, n]),
      ),
    );
    const direct = await serve(new DirectPredictor());
    const requests = [1, 3, 1, 7, 2, 5, 1, 4].map((size, i) => ({
      path: i % 3 === 2 ? '/v1/models/mnist/versions/1:predict' : '/v1/models/mnist:predict',
      body:
        i % 2 === 0
          ? { instances: Array.from({ length: size }, (_, j) => image(i * 10 + j + 1)) }
          : { inputs: Array.from({ length: size }, (_, j) => image(i * 10 + j + 1)) },
    }));
    const together = await Promise.all(requests.map((r) => post(batched + r.path, r.body)));
    for (const [i, r] of requests.entries()) {
      const alone = await post(direct + r.path, r.body);
      const got = together[i];
      expect([got.status, alone.status]).toEqual([200, 200]);
      const [a, b] = [
        got.json.predictions ?? got.json.outputs,
        alone.json.predictions ?? alone.json.outputs,
      ] as number[][][];
      expect(a).toHaveLength(r.body.instances?.length ?? r.body.inputs!.length);
      a.forEach((row, k) => row.forEach((p, j) => expect(p).toBeCloseTo(b[k][j], 6)));
    }
    // Version 2 got 6 requests of 18 instances (two batches of at most 16, split by arrival order);
    // version 1 got 2 requests of 6 instances, one batch.
    const v2 = passes.filter(([v]) => v === 2).map(([, n]) => n);
    expect([v2.length, v2.reduce((a, b) => a + b, 0), Math.max(...v2) <= 16]).toEqual([2, 18, true]);
    expect(passes.filter(([v]) => v === 1).map(([, n]) => n)).toEqual([6]);
    expect(errors).toEqual([]);
  });

  it('keeps a version loaded while requests for it wait in its queue, even once it is evicted', async () => {
    const small = new ModelRegistry(new CheckpointStore(join(dir, 'small'), { logger: silentLogger() }), {
      capacity: 1,
    });
    const first = createSeedCnn(11);
    await small.publish(1, first);
    const old = small.current()!;
    const predictor = new BatchingPredictor({ maxBatchSize: 8, batchTimeoutMicros: 100_000, maxEnqueuedBatches: 2 });
    const x = Float32Array.from(image(4));
    const waiting = predictor.predict(old, x, 1);
    // Version 2 replaces version 1, which is retired while the request waits for its batch.
    const second = createSeedCnn(12);
    await small.publish(2, second);
    expect(small.loadedVersions()).toEqual([2]);
    const y = await waiting;
    const expected = tf.tidy(() => (first.predict(tf.tensor(x, [1, 28, 28, 1])) as tf.Tensor).dataSync());
    Array.from(y).forEach((v, i) => expect(v).toBeCloseTo(expected[i], 6));
    await new Promise((resolve) => setImmediate(resolve));
    await expect(old.predict(x, 1)).rejects.toThrow(/version 1 has been unloaded/);
    small.dispose();
    first.dispose();
    second.dispose();
  });

  it('answers 503 with Retry-After when the version queue is full, and serves what it took', async () => {
    const url = await serve(
      new BatchingPredictor({ maxBatchSize: 4, batchTimeoutMicros: 300_000, maxEnqueuedBatches: 1 }),
    );
    const first = post(`${url}/v1/models/mnist:predict`, { instances: [image(1)] });
    await new Promise((resolve) => setTimeout(resolve, 50));
    // Four more instances do not fit the open batch, and the queue holds one batch only.
    const refused = await post(`${url}/v1/models/mnist:predict`, {
      instances: [image(2), image(3), image(4), image(5)],
    });
    expect(refused.status).toBe(503);
    expect(refused.retryAfter).toBe('1');
    expect(refused.json.error).toBe(
      'the batch queue of version 2 is full (1 batches, 1 instances waiting); retry in a second',
    );
    // Other versions have their own queue.
    expect((await post(`${url}/v1/models/mnist/versions/1:predict`, { instances: [image(2)] })).status).toBe(200);
    expect((await first).status).toBe(200);
    expect(
      (await post(`${url}/v1/models/mnist:predict`, { instances: [image(2), image(3), image(4), image(5)] })).status,
    ).toBe(200);
  });
});
