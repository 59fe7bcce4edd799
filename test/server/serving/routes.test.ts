import * as tf from '@tensorflow/tfjs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setupBackend } from '../../../shared/engine/backend.js';
import { createSeedCnn } from '../../../shared/model/seed-cnn.js';
import { getFlatWeights } from '../../../shared/model/weights.js';
import { ModelRegistry } from '../../../server/serving/model-registry.js';
import { handleServing } from '../../../server/serving/routes.js';
import { artifactFromModel } from '../../../server/serving/served-model.js';
import { CheckpointStore } from '../../../server/store/checkpoint-store.js';
import { lineLogger, silentLogger } from '../../../server/logger.js';

let dir: string;
let server: Server;
let base: string;
let registry: ModelRegistry;
let v1: tf.LayersModel;
let v2: tf.LayersModel;
const errors: string[] = [];

/** Digit-like inputs in [0, 1), deterministic. */
function image(seed: number): number[] {
  let s = seed;
  return Array.from({ length: 784 }, () => (s = (s * 16807) % 2147483647) / 2147483647);
}
const images = [image(1), image(2), image(3)];
const rows = (flat: number[]) => Array.from({ length: 28 }, (_, r) => flat.slice(r * 28, r * 28 + 28));
const rowsWithChannel = (flat: number[]) => rows(flat).map((row) => row.map((v) => [v]));

function localPredict(model: tf.LayersModel, flats: number[][]): number[][] {
  return tf.tidy(
    () => (model.predict(tf.tensor(flats.flat(), [flats.length, 28, 28, 1])) as tf.Tensor).arraySync() as number[][],
  );
}

/** Served values are float32 printed shortest; reading them back as float32 must be exact. */
function expectSameFloat32(served: number[][], expected: number[][]): void {
  expect(served.map((r) => r.map(Math.fround))).toEqual(expected);
}

async function post(path: string, body: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(base + path, {
    method: 'POST',
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}
async function get(path: string): Promise<{ status: number; json: any }> {
  const res = await fetch(base + path);
  return { status: res.status, json: await res.json() };
}

beforeAll(async () => {
  await setupBackend(undefined, { log: () => {}, argv: [], env: {} });
  dir = await mkdtemp(join(tmpdir(), 'fedserve-routes-'));
  const store = new CheckpointStore(dir, { logger: silentLogger() });
  registry = new ModelRegistry(store, { capacity: 2 });
  v1 = createSeedCnn(1);
  v2 = createSeedCnn(2);
  for (const [version, model] of [
    [1, v1],
    [2, v2],
  ] as const) {
    const cp = { ...artifactFromModel(model), version, round: version + 10, metadata: {} };
    await store.save(cp);
    await registry.publish(version, cp);
  }
  server = createServer((req, res) => {
    void handleServing(req, res, { registry, maxBodyBytes: 64 * 1024, logger: lineLogger((l) => errors.push(l)) }).then(
      (handled) => {
        if (!handled) res.writeHead(404).end('not serving');
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  registry.dispose();
  v1.dispose();
  v2.dispose();
  await rm(dir, { recursive: true, force: true });
});

describe('TF Serving-compatible REST', () => {
  it('reports model status and metadata', async () => {
    expect(await get('/v1/models/mnist')).toEqual({
      status: 200,
      json: {
        model_version_status: ['2', '1'].map((version) => ({
          version,
          state: 'AVAILABLE',
          status: { error_code: 'OK', error_message: '' },
        })),
      },
    });
    expect((await get('/v1/models/mnist/versions/1')).json.model_version_status).toHaveLength(1);
    const meta = await get('/v1/models/mnist/metadata');
    expect(meta.status).toBe(200);
    expect(meta.json.model_spec).toEqual({ name: 'mnist', signature_name: '', version: '2' });
    expect(meta.json.fedserve).toMatchObject({ version: 2, round: 12, input_shape: [28, 28, 1], output_shape: [10] });
    const sig = meta.json.metadata.signature_def.signature_def.serving_default;
    const dims = (t: any) => t.tensor_shape.dim.map((d: any) => Number(d.size));
    expect(Object.values(sig.inputs).map(dims)).toEqual([[-1, 28, 28, 1]]);
    expect(Object.values(sig.outputs).map(dims)).toEqual([[-1, 10]]);
    expect((await get('/v1/models/mnist/versions/1/metadata')).json.fedserve).toMatchObject({ version: 1, round: 11 });
  });

  it('predicts in row format from flat, 28x28 and 28x28x1 instances', async () => {
    const res = await post('/v1/models/mnist:predict', {
      instances: [images[0], rows(images[1]), rowsWithChannel(images[2])],
    });
    expect(res.status).toBe(200);
    expectSameFloat32(res.json.predictions, localPredict(v2, images));
  });

  it('predicts in columnar format, named or bare, and with a signature name', async () => {
    const meta = await get('/v1/models/mnist/metadata');
    const inputName = Object.keys(meta.json.metadata.signature_def.signature_def.serving_default.inputs)[0];
    const bare = await post('/v1/models/mnist:predict', { inputs: images.map(rows) });
    const named = await post('/v1/models/mnist:predict', {
      signature_name: 'serving_default',
      inputs: { [inputName]: images },
    });
    expect(bare.status).toBe(200);
    expectSameFloat32(bare.json.outputs, localPredict(v2, images));
    expect(named.json).toEqual(bare.json);
  });

  it('predicts with a specific version', async () => {
    const res = await post('/v1/models/mnist/versions/1:predict', { instances: images });
    expectSameFloat32(res.json.predictions, localPredict(v1, images));
    expect(res.json.predictions).not.toEqual(
      (await post('/v1/models/mnist/versions/2:predict', { instances: images })).json.predictions,
    );
  });

  it("serves the seed's POST /predict for one instance or a list", async () => {
    const one = await post('/predict', { x_input: images[0] });
    expect(one.status).toBe(200);
    expectSameFloat32([one.json.prediction], localPredict(v2, [images[0]]));
    const many = await post('/predict', { x_input: [rows(images[1]), images[2]] });
    expectSameFloat32(many.json.prediction, localPredict(v2, [images[1], images[2]]));
  });

  it.each([
    ['malformed JSON', '/v1/models/mnist:predict', '{"instances": [1, 2', /request body is not valid JSON/],
    ['an empty body', '/v1/models/mnist:predict', '', /request body is empty/],
    [
      'a wrong-sized instance',
      '/v1/models/mnist:predict',
      { instances: [image(1), image(2).slice(1)] },
      /instances\[1\] has shape \[783\] \(783 values\); the model takes 784 numbers/,
    ],
    [
      'a ragged instance',
      '/v1/models/mnist:predict',
      { instances: [[...rows(image(1)).slice(0, 27), [1]]] },
      /instances\[0\]\[27\] has 1 elements, expected 28/,
    ],
    [
      'a non-number',
      '/v1/models/mnist:predict',
      { instances: [[...image(1).slice(1), 'x']] },
      /instances\[0\]\[783\] must be a number, got string/,
    ],
    [
      'both formats',
      '/v1/models/mnist:predict',
      { instances: [image(1)], inputs: [image(1)] },
      /exactly one of "instances" \(row format\) or "inputs"/,
    ],
    ['no instances', '/v1/models/mnist:predict', { instances: [] }, /instances must hold at least one instance/],
    ['an unknown key', '/v1/models/mnist:predict', { instance: [image(1)] }, /Unrecognized key.*instance/],
    [
      'a wrong input name',
      '/v1/models/mnist:predict',
      { inputs: { pixels: [image(1)] } },
      /inputs names inputs \[pixels\]; this model has one input/,
    ],
    [
      'another signature',
      '/v1/models/mnist:predict',
      { signature_name: 'classify', instances: [image(1)] },
      /signature_name must be "serving_default"/,
    ],
    ['a body that is not an object', '/v1/models/mnist:predict', [image(1)], /request body: .*expected object/],
    ['a bad x_input', '/predict', { x_input: 'seven' }, /x_input must be one instance of 784 numbers/],
    ['a missing x_input', '/predict', {}, /x_input: required: one instance or an array of instances/],
    [
      'a short x_input',
      '/predict',
      { x_input: [0.5, 0.25] },
      /^x_input has shape \[2\] \(2 values\); the model takes 784 numbers/,
    ],
    ['a bad instance in an x_input list', '/predict', { x_input: [image(1), [0.5]] }, /^x_input\[1\] has shape \[1\]/],
    [
      'a non-numeric version',
      '/v1/models/mnist/versions/latest:predict',
      { instances: [image(1)] },
      /version must be a non-negative integer, got 'latest'/,
    ],
  ])('answers 400 for %s', async (_what, path, body, message) => {
    const res = await post(path, body);
    expect(res.status).toBe(400);
    expect(res.json.error).toMatch(message);
  });

  it.each([
    ['an unknown model', '/v1/models/cifar:predict', /model 'cifar' not found; this server serves 'mnist'/],
    ['an unknown version', '/v1/models/mnist/versions/7:predict', /model 'mnist' has no version 7/],
    ['an unknown method', '/v1/models/mnist:classify', /no such endpoint/],
  ])('answers 404 for %s', async (_what, path, message) => {
    const res = await post(path, { instances: [image(1)] });
    expect(res.status).toBe(404);
    expect(res.json.error).toMatch(message);
  });

  it('answers 503 while no version is published', async () => {
    const empty = new ModelRegistry(new CheckpointStore(join(dir, 'empty'), { logger: silentLogger() }));
    const ctx = { registry: empty, logger: silentLogger() };
    const server2 = createServer((req, res) => void handleServing(req, res, ctx));
    await new Promise<void>((resolve) => server2.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server2.address() as AddressInfo).port}`;
    for (const path of ['/v1/models/mnist', '/v1/models/mnist/metadata', '/v1/models/mnist/model.json']) {
      const res = await fetch(url + path);
      expect([res.status, (await res.json()).error]).toEqual([503, "model 'mnist' has no published version yet"]);
    }
    await new Promise((resolve) => server2.close(resolve));
  });

  it('refuses oversized bodies, wrong methods, and leaves other paths alone', async () => {
    const big = await post('/v1/models/mnist:predict', { instances: Array.from({ length: 20 }, () => image(5)) });
    expect(big).toMatchObject({ status: 413, json: { error: expect.stringMatching(/limit is 65536/) } });
    const wrong = await fetch(`${base}/v1/models/mnist:predict`);
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('POST');
    expect((await get('/v1/models/mnist/versions/9')).status).toBe(404);
    const other = await fetch(`${base}/v1/rounds`);
    expect([other.status, await other.text()]).toEqual([404, 'not serving']);
  });

  it('stops reading a chunked body at the limit and answers 413', async () => {
    const status = await new Promise<number | string>((resolve) => {
      const req = request(`${base}/v1/models/mnist:predict`, { method: 'POST' }, (res) => resolve(res.statusCode!));
      req.on('error', (e) => resolve(e.message));
      req.write(`{"instances": [${'0.5,'.repeat(20_000)}`);
      req.end('0]}');
    });
    expect(status).toBe(413);
  });

  it('survives a client that hangs up mid-body and keeps answering', async () => {
    await new Promise<void>((resolve) => {
      const req = request(`${base}/v1/models/mnist:predict`, { method: 'POST', headers: { 'content-length': '5000' } });
      req.on('error', () => resolve());
      req.write('{"instances": [[0.1, 0.2');
      setTimeout(() => {
        req.destroy();
        resolve();
      }, 50);
    });
    expect((await post('/predict', { x_input: images[0] })).status).toBe(200);
    expect(errors).toEqual([]);
  });
});

describe('model files for tf.loadLayersModel', () => {
  it('loads the current model over http with identical predictions', async () => {
    const res = await fetch(`${base}/v1/models/mnist/model.json`);
    expect(res.headers.get('cache-control')).toBe('no-cache');
    expect((await res.json()).weightsManifest[0].paths).toEqual(['versions/2/weights.bin']);
    const loaded = await tf.loadLayersModel(`${base}/v1/models/mnist/model.json`);
    expect(getFlatWeights(loaded)).toEqual(getFlatWeights(v2));
    expect(localPredict(loaded, images)).toEqual(localPredict(v2, images));
    loaded.dispose();
  });

  it('loads a specific version over http', async () => {
    const loaded = await tf.loadLayersModel(`${base}/v1/models/mnist/versions/1/model.json`);
    expect(localPredict(loaded, images)).toEqual(localPredict(v1, images));
    loaded.dispose();
    const weights = await fetch(`${base}/v1/models/mnist/versions/1/weights.bin`);
    expect(weights.headers.get('content-type')).toBe('application/octet-stream');
    expect(new Float32Array(await weights.arrayBuffer())).toEqual(getFlatWeights(v1));
  });
});

describe('hostile predict input', () => {
  /** A server on the same registry with its own limits. */
  async function serve(limits: {
    maxInstances?: number;
    maxConcurrentPredictions?: number;
  }): Promise<{ url: string; close: () => Promise<void> }> {
    const ctx = { registry, logger: lineLogger((l: string) => errors.push(l)), ...limits };
    const s = createServer((req, res) => void handleServing(req, res, ctx));
    await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
    return {
      url: `http://127.0.0.1:${(s.address() as AddressInfo).port}`,
      close: () => new Promise((resolve) => s.close(() => resolve())),
    };
  }

  it('answers 400, not 500, for an instance nested 10,000 levels deep', async () => {
    const body = `{"instances": [${'['.repeat(10_000)}${image(1).join(',')}${']'.repeat(10_000)}]}`;
    const res = await post('/v1/models/mnist:predict', body);
    expect(res).toEqual({
      status: 400,
      json: { error: expect.stringMatching(/^request body nests deeper than 64 levels/) },
    });
    const seed = await post('/predict', `{"x_input": ${'['.repeat(10_000)}0.5${']'.repeat(10_000)}}`);
    expect(seed.status).toBe(400);
    expect(errors).toEqual([]);
  });

  it.each([
    [
      '3.5e38',
      '/v1/models/mnist:predict',
      (v: string) => `{"instances": [[${image(1).slice(1).join(',')}, ${v}]]}`,
      /^instances\[0\]\[783\] is 3\.5e38, which is not finite as float32/,
    ],
    [
      '-1e39',
      '/predict',
      (v: string) => `{"x_input": [${v}, ${image(1).slice(1).join(',')}]}`,
      /^x_input\[0\] is -1e39, which is not finite as float32/,
    ],
    [
      '1e400',
      '/v1/models/mnist:predict',
      (v: string) => `{"inputs": {"x": [[${v}]]}}`,
      /^inputs\.x\[0\]\[0\] is 1e400/,
    ],
  ])('answers 400 for %s, finite in JSON but not as float32', async (value, path, body, message) => {
    const res = await post(path, body(value));
    expect(res).toEqual({ status: 400, json: { error: expect.stringMatching(message) } });
  });

  it('answers 413 for more instances than the per-request limit', async () => {
    const s = await serve({ maxInstances: 2 });
    try {
      const three = await fetch(`${s.url}/v1/models/mnist:predict`, {
        method: 'POST',
        body: JSON.stringify({ instances: [images[0], images[1], images[2]] }),
      });
      expect([three.status, await three.json()]).toEqual([
        413,
        { error: 'the request has 3 instances; the limit is 2 per request, so split it' },
      ]);
      const ragged = await fetch(`${s.url}/predict`, {
        method: 'POST',
        body: JSON.stringify({ x_input: [images[0], rows(images[1]), images[2]] }),
      });
      expect(ragged.status).toBe(413);
      const two = await fetch(`${s.url}/v1/models/mnist:predict`, {
        method: 'POST',
        body: JSON.stringify({ inputs: [images[0], images[1]] }),
      });
      expect(two.status).toBe(200);
    } finally {
      await s.close();
    }
  });

  it('answers 503 with Retry-After beyond the concurrent predictions, and frees the slot when a request ends', async () => {
    const s = await serve({ maxConcurrentPredictions: 1 });
    try {
      // A slow upload holds the only slot while its body trickles in.
      let answer!: (status: number) => void;
      const slow = new Promise<number>((resolve) => (answer = resolve));
      const body = JSON.stringify({ instances: [images[0]] });
      const req = request(
        `${s.url}/v1/models/mnist:predict`,
        { method: 'POST', headers: { 'content-length': String(body.length) } },
        (res) => {
          res.resume();
          answer(res.statusCode!);
        },
      );
      req.write(body.slice(0, 10));
      await new Promise((resolve) => setTimeout(resolve, 100));
      const busy = await fetch(`${s.url}/v1/models/mnist:predict`, { method: 'POST', body });
      expect(busy.status).toBe(503);
      expect(busy.headers.get('retry-after')).toBe('1');
      expect(await busy.json()).toEqual({
        error: 'the server is busy: 1 predict requests are in progress; retry in a second',
      });
      req.end(body.slice(10));
      expect(await slow).toBe(200);
      // Failed requests free their slot too.
      expect((await fetch(`${s.url}/predict`, { method: 'POST', body: '{"x_input": "seven"}' })).status).toBe(400);
      expect(
        (await fetch(`${s.url}/predict`, { method: 'POST', body: JSON.stringify({ x_input: images[0] }) })).status,
      ).toBe(200);
    } finally {
      await s.close();
    }
  });
});
