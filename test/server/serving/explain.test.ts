import * as tf from '@tensorflow/tfjs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, request as httpRequest, type ClientRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setupBackend } from '../../../shared/engine/backend.js';
import { createSeedCnn } from '../../../shared/model/seed-cnn.js';
import { MAX_CONCURRENT_EXPLAINS, MAX_EXPLAIN_EVALUATIONS, MAX_STEPS } from '../../../server/serving/explain.js';
import { ModelRegistry } from '../../../server/serving/model-registry.js';
import { handleServing } from '../../../server/serving/routes.js';
import { artifactFromModel } from '../../../server/serving/served-model.js';
import { CheckpointStore } from '../../../server/store/checkpoint-store.js';
import { silentLogger } from '../../../server/logger.js';

let dir: string;
let server: Server;
let base: string;
let v1: tf.LayersModel;
let v2: tf.LayersModel;
let onExplainArrived: (() => void) | undefined;

/** Digit-like inputs in [0, 1), deterministic. */
function image(seed: number): number[] {
  let s = seed;
  return Array.from({ length: 784 }, () => (s = (s * 16807) % 2147483647) / 2147483647);
}
const rows = (flat: number[]) => Array.from({ length: 28 }, (_, r) => flat.slice(r * 28, r * 28 + 28).map((v) => [v]));
const images = [image(1), image(2)];

function outputs(model: tf.LayersModel, flat: number[]): number[] {
  return tf.tidy(() => Array.from((model.predict(tf.tensor(flat, [1, 28, 28, 1])) as tf.Tensor).dataSync()));
}

async function post(path: string, body: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(base + path, { method: 'POST', body: JSON.stringify(body) });
  return { status: res.status, json: await res.json() };
}

const sum = (nested: unknown): number =>
  Array.isArray(nested) ? nested.reduce((a: number, v) => a + sum(v), 0) : (nested as number);

beforeAll(async () => {
  await setupBackend(undefined, { log: () => {}, argv: [], env: {} });
  dir = await mkdtemp(join(tmpdir(), 'fedserve-explain-'));
  const store = new CheckpointStore(dir, { logger: silentLogger() });
  const registry = new ModelRegistry(store, { capacity: 2 });
  v1 = createSeedCnn(1);
  v2 = createSeedCnn(2);
  for (const [version, model] of [
    [1, v1],
    [2, v2],
  ] as const) {
    const cp = { ...artifactFromModel(model), version, round: version, metadata: {} };
    await store.save(cp);
    await registry.publish(version, cp);
  }
  server = createServer((req, res) => {
    void handleServing(req, res, { registry, maxInstances: 8, logger: silentLogger() });
    // handleServing counts an explain request before its first await: it is in progress from here on.
    onExplainArrived?.();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  v1.dispose();
  v2.dispose();
  await rm(dir, { recursive: true, force: true });
});

describe(':explain', () => {
  it('integrated gradients sum to F(x) - F(zeros) within 1%, per instance, for the class asked', async () => {
    const zeros = outputs(v1, new Array(784).fill(0));
    // The class whose output moves most between the baseline and each image: a clear signal to check.
    const targets = images.map((img) => {
      const out = outputs(v1, img);
      const moves = out.map((o, c) => Math.abs(o - zeros[c]));
      return moves.indexOf(Math.max(...moves));
    });
    const { status, json } = await post('/v1/models/mnist/versions/1:explain', {
      instances: images.map(rows),
      steps: 128,
      targets,
    });
    expect(status).toBe(200);
    expect(json).toMatchObject({ model_version: 1, method: 'integrated_gradients', steps: 128, baseline: 'zeros' });
    expect(json.explanations).toHaveLength(2);
    json.explanations.forEach((e: any, i: number) => {
      const out = outputs(v1, images[i]);
      expect(e.target).toBe(targets[i]);
      expect(e.output).toBeCloseTo(out[targets[i]], 5);
      expect(e.baseline_output).toBeCloseTo(zeros[targets[i]], 5);
      const difference = out[targets[i]] - zeros[targets[i]];
      expect(Math.abs(difference)).toBeGreaterThan(1e-3);
      expect(Math.abs(sum(e.attributions) - difference)).toBeLessThan(0.01 * Math.abs(difference));
      expect(e.convergence_delta).toBeCloseTo(sum(e.attributions) - (e.output - e.baseline_output), 5);
      // Attributions have the input's shape: 28 x 28 x 1.
      expect(e.attributions).toHaveLength(28);
      expect(e.attributions[0]).toHaveLength(28);
      expect(e.attributions[0][0]).toHaveLength(1);
      expect(e.prediction).toHaveLength(10);
    });
  });

  it('gradient x input on the columnar format, explaining the top class of the current version', async () => {
    const { status, json } = await post('/v1/models/mnist:explain', {
      inputs: [rows(images[0])],
      method: 'gradient_x_input',
    });
    expect(status).toBe(200);
    expect(json.model_version).toBe(2);
    expect(json.steps).toBeUndefined();
    const out = outputs(v2, images[0]);
    expect(json.explanations[0].target).toBe(out.indexOf(Math.max(...out)));
    // gradient x input at x: compare with tf's gradient directly.
    const grad = tf.tidy(() =>
      Array.from(
        tf
          .grad((x: tf.Tensor) => (v2.predict(x) as tf.Tensor2D).slice([0, json.explanations[0].target], [1, 1]).sum())(
            tf.tensor(images[0], [1, 28, 28, 1]),
          )
          .dataSync(),
      ),
    );
    const expected = grad.map((g, j) => g * images[0][j]);
    const got = json.explanations[0].attributions.flat(2) as number[];
    got.forEach((v, j) => expect(v).toBeCloseTo(expected[j], 6));
  });

  it.each([
    ['too many steps', { steps: MAX_STEPS + 1 }, 400, `at most ${MAX_STEPS} steps`],
    ['too few steps', { steps: 1 }, 400, 'steps'],
    ['an unknown method', { method: 'shap' }, 400, 'method'],
    ['a target outside the classes', { targets: [10] }, 400, 'targets[0] is 10; the model has classes 0..9'],
    ['targets not matching the instances', { targets: [1, 2] }, 400, 'targets has 2 entries for 1 instances'],
    ['an unknown field', { colour: 'red' }, 400, 'colour'],
  ])('refuses %s', async (_, extra, status, message) => {
    const res = await post('/v1/models/mnist/versions/1:explain', { instances: [rows(images[0])], ...extra });
    expect(res.status).toBe(status);
    expect(JSON.stringify(res.json)).toContain(message);
  });

  it('bounds the cost: instances x steps beyond the limit is a 400, more instances than allowed a 413, GET a 405', async () => {
    const instances = Array.from({ length: 8 }, () => rows(images[0]));
    const steps = Math.floor(MAX_EXPLAIN_EVALUATIONS / 8) + 1;
    expect(steps).toBeLessThanOrEqual(MAX_STEPS);
    const tooMuch = await post('/v1/models/mnist:explain', { instances, steps });
    expect(tooMuch.status).toBe(400);
    expect(tooMuch.json.error).toContain(
      `8 instances x ${steps} steps = ${8 * steps} gradient evaluations; the limit is ${MAX_EXPLAIN_EVALUATIONS}`,
    );
    const tooMany = await post('/v1/models/mnist:explain', {
      instances: [...instances, rows(images[1])],
      method: 'gradient_x_input',
    });
    expect(tooMany.status).toBe(413);
    expect((await fetch(`${base}/v1/models/mnist:explain`)).status).toBe(405);
    expect((await post('/v1/models/mnist/versions/9:explain', { instances: [rows(images[0])] })).status).toBe(404);
  });
  it(`answers 503 with Retry-After beyond ${MAX_CONCURRENT_EXPLAINS} explain requests in progress, and serves again once they end`, async () => {
    const held: ClientRequest[] = [];
    for (let i = 0; i < MAX_CONCURRENT_EXPLAINS; i++) {
      const arrived = new Promise<void>((resolve) => (onExplainArrived = resolve));
      // A body that never finishes keeps the request in progress.
      const r = httpRequest(`${base}/v1/models/mnist:explain`, {
        method: 'POST',
        headers: { 'content-length': '1000' },
      });
      r.on('error', () => undefined);
      r.write('{"instances": [');
      held.push(r);
      await arrived;
    }
    onExplainArrived = undefined;
    const busy = await fetch(`${base}/v1/models/mnist:explain`, {
      method: 'POST',
      body: JSON.stringify({ instances: [rows(images[0])], method: 'gradient_x_input' }),
    });
    expect(busy.status).toBe(503);
    expect(busy.headers.get('retry-after')).toBe('1');
    expect(((await busy.json()) as { error: string }).error).toContain(
      `${MAX_CONCURRENT_EXPLAINS} explain requests are in progress`,
    );
    for (const r of held) r.destroy();
    // The aborted uploads release their slots.
    let status = 503;
    while (status === 503) {
      const again = await fetch(`${base}/v1/models/mnist:explain`, {
        method: 'POST',
        body: JSON.stringify({ instances: [rows(images[0])], method: 'gradient_x_input' }),
      });
      status = again.status;
      await again.arrayBuffer();
    }
    expect(status).toBe(200);
  });
});
