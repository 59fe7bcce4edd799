import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setupBackend } from '../../../shared/engine/backend.js';
import { createSeedCnn } from '../../../shared/model/seed-cnn.js';
import { ModelRegistry } from '../../../server/serving/model-registry.js';
import { handleServing } from '../../../server/serving/routes.js';
import { CheckpointStore } from '../../../server/store/checkpoint-store.js';
import { lineLogger, silentLogger } from '../../../server/logger.js';

let dir: string;
let server: Server;
let base: string;
let registry: ModelRegistry;
let inputName: string;
const errors: string[] = [];

function image(seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: 784 }, () => (s = (s * 16807) % 2147483647) / 2147483647);
}
const b64 = (x: Float32Array) => Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString('base64');
const concat = (...xs: Float32Array[]) => Float32Array.from(xs.flatMap((x) => Array.from(x)));
const bytesOf = (x: Float32Array) => new Uint8Array(x.buffer, x.byteOffset, x.byteLength) as Uint8Array<ArrayBuffer>;

async function post(
  path: string,
  body: Uint8Array<ArrayBuffer> | object,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: any }> {
  const res = await fetch(base + path, {
    method: 'POST',
    headers,
    body: body instanceof Uint8Array ? body : JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}
const octet = (path: string, body: Uint8Array<ArrayBuffer>, headers: Record<string, string> = {}) =>
  post(path, body, { 'content-type': 'application/octet-stream', ...headers });
const predict = '/v1/models/mnist:predict';

beforeAll(async () => {
  await setupBackend(undefined, { log: () => {}, argv: [], env: {} });
  dir = await mkdtemp(join(tmpdir(), 'fedserve-binary-'));
  registry = new ModelRegistry(new CheckpointStore(dir, { logger: silentLogger() }));
  const model = createSeedCnn(3);
  await registry.publish(1, model);
  model.dispose();
  inputName = registry.current()!.inputName;
  server = createServer(
    (req, res) =>
      void handleServing(req, res, { registry, maxInstances: 4, logger: lineLogger((l) => errors.push(l)) }),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  registry.dispose();
  await rm(dir, { recursive: true, force: true });
});

describe('binary predict inputs', () => {
  const images = [image(1), image(2)];

  it('takes {"b64": ...} instances in row, named, columnar and seed form, answering as JSON numbers do', async () => {
    const reference = (await post(predict, { instances: images.map((x) => Array.from(x)) })).json.predictions;
    expect((await post(predict, { instances: images.map((x) => ({ b64: b64(x) })) })).json.predictions).toEqual(
      reference,
    );
    expect(
      (await post(predict, { instances: images.map((x) => ({ [inputName]: { b64: b64(x) } })) })).json.predictions,
    ).toEqual(reference);
    expect((await post(predict, { inputs: [{ b64: b64(images[0]) }, Array.from(images[1])] })).json.outputs).toEqual(
      reference,
    );
    expect((await post('/predict', { x_input: { b64: b64(images[1]) } })).json.prediction).toEqual(reference[1]);
  });

  it('takes a raw float32 body with the shape in a header, the query or implied, and answers raw float32 on request', async () => {
    const reference = (await post(predict, { instances: images.map((x) => Array.from(x)) })).json.predictions;
    const body = bytesOf(concat(...images));
    expect((await octet(predict, body, { 'x-tensor-shape': '2,28,28,1' })).json.predictions).toEqual(reference);
    expect((await octet(`${predict}?shape=2,784`, body)).json.predictions).toEqual(reference);
    expect((await octet(predict, body)).json.predictions).toEqual(reference);
    const raw = await fetch(base + predict, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream', accept: 'application/octet-stream' },
      body,
    });
    expect(raw.headers.get('content-type')).toBe('application/octet-stream');
    expect(raw.headers.get('x-tensor-shape')).toBe('2,10');
    expect(Array.from(new Float32Array(await raw.arrayBuffer()))).toEqual(reference.flat().map(Math.fround));
  });

  it.each([
    [
      'a b64 instance one value short',
      () => post(predict, { instances: [{ b64: b64(image(1).subarray(1)) }] }),
      /^instances\[0\]\.b64 decodes to 783 float32 values; the model takes 784 float32 values \(3136 bytes, little-endian\)$/,
    ],
    [
      'a b64 instance of odd bytes',
      () => post(predict, { instances: [{ b64: Buffer.alloc(3135).toString('base64') }] }),
      /decodes to 3135 bytes, not a whole number of float32 values/,
    ],
    [
      'b64 that is not base64',
      () => post(predict, { instances: [{ b64: 'not base64!' }] }),
      /^instances\[0\]\.b64 is not standard base64/,
    ],
    [
      'b64 that is not a string',
      () => post(predict, { instances: [{ b64: 12 }] }),
      /^instances\[0\]\.b64 must be a base64 string, got number/,
    ],
    [
      'a NaN inside b64',
      () => post(predict, { inputs: [{ b64: b64(Object.assign(image(1), { 5: NaN })) }] }),
      /^inputs\[0\]\.b64 value 5 is NaN; inputs must be finite$/,
    ],
    ['a body of 3 bytes', () => octet(predict, new Uint8Array(3)), /has 3 bytes, not a whole number of float32 values/],
    [
      'a body that does not match its shape',
      () => octet(predict, bytesOf(image(1)), { 'x-tensor-shape': '2,28,28,1' }),
      /^the octet-stream body has 3136 bytes; shape \[2, 28, 28, 1\] needs 6272/,
    ],
    [
      'a shape of the wrong instance size',
      () => octet(`${predict}?shape=1,28,27`, bytesOf(image(1))),
      /^shape \[1, 28, 27\] has 756 values per instance; the model takes 784, e.g. shape n,28,28,1$/,
    ],
    [
      'a shape with no instance dimensions',
      () => octet(`${predict}?shape=1`, bytesOf(image(1))),
      /^shape \[1\] has no instance dimensions; the model takes 784/,
    ],
    [
      'a malformed shape',
      () => octet(predict, bytesOf(image(1)), { 'x-tensor-shape': '1,28x28' }),
      /^the x-tensor-shape header must be comma-separated non-negative integers/,
    ],
    [
      'a shapeless body of part of an instance',
      () => octet(predict, bytesOf(image(1).subarray(0, 700))),
      /has 700 float32 values, not a whole number of instances of 784/,
    ],
    [
      'an empty binary body',
      () => octet(predict, new Uint8Array(0)),
      /^request body is empty; expected float32 values$/,
    ],
    [
      'an infinite value',
      () => octet(predict, bytesOf(Object.assign(image(1), { 0: Infinity }))),
      /^the octet-stream body value 0 is Infinity; inputs must be finite$/,
    ],
  ])('answers 400 for %s', async (_what, send, message) => {
    const res = await send();
    expect(res.status).toBe(400);
    expect(res.json.error).toMatch(message);
  });

  it('answers 413 for more binary instances than the per-request limit', async () => {
    const res = await octet(predict, bytesOf(concat(...Array.from({ length: 5 }, (_, i) => image(i + 1)))));
    expect(res).toEqual({
      status: 413,
      json: { error: 'the request has 5 instances; the limit is 4 per request, so split it' },
    });
    expect(errors).toEqual([]);
  });
});
