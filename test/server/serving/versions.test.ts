import * as tf from '@tensorflow/tfjs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { setupBackend } from '../../../shared/engine/backend.js';
import { createSeedCnn } from '../../../shared/model/seed-cnn.js';
import { startCoordinator } from '../../../server/app.js';
import { parseCoordinatorConfig } from '../../../server/config.js';
import {
  ModelRegistry,
  type ModelRegistryOptions,
  type VersionStatus,
} from '../../../server/serving/model-registry.js';
import { ServingOverrides } from '../../../server/serving/serving-overrides.js';
import { DirectPredictor } from '../../../server/serving/predictor.js';
import { handleServing } from '../../../server/serving/routes.js';
import { artifactFromModel, ServedModel } from '../../../server/serving/served-model.js';
import { nodeSyncFileSystem } from '../../../server/store/atomic-file.js';
import { CheckpointStore } from '../../../server/store/checkpoint-store.js';
import { silentLogger } from '../../../server/logger.js';

const ADMIN = 'admin-token-for-tests';
let dir: string;
let store: CheckpointStore;
const open: { server: Server; registry: ModelRegistry }[] = [];
const models = new Map<number, tf.LayersModel>();

function image(seed: number): number[] {
  let s = seed;
  return Array.from({ length: 784 }, () => (s = (s * 16807) % 2147483647) / 2147483647);
}
const x = [image(1), image(2)];
const local = (version: number) =>
  tf.tidy(
    () => (models.get(version)!.predict(tf.tensor(x.flat(), [2, 28, 28, 1])) as tf.Tensor).arraySync() as number[][],
  );

/** A registry over versions 1..4 of the store, with `newest` published, behind a REST server. */
async function serve(options: ModelRegistryOptions, newest = 4, overrides?: ServingOverrides) {
  const registry = new ModelRegistry(store, options);
  await registry.publish(newest, await store.load(newest));
  const server = createServer(
    (req, res) =>
      void handleServing(req, res, {
        registry,
        adminToken: ADMIN,
        predictor: new DirectPredictor(),
        logger: silentLogger(),
        ...(overrides ? { overrides } : {}),
      }),
  );
  open.push({ server, registry });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/models/mnist`;
  const call = async (method: string, path: string, body?: unknown, token: string | null = ADMIN) => {
    const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
    const res = await fetch(base + path, {
      method,
      headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, json: await res.json() };
  };
  const states = async () =>
    Object.fromEntries(
      ((await call('GET', '')).json.model_version_status as { version: string; state: string }[]).map((s) => [
        s.version,
        s.state,
      ]),
    );
  const predict = (path: string) => call('POST', `${path}:predict`, { instances: x }, null);
  return { registry, call, states, predict };
}

/** A request with the admin token to a running coordinator's model path. */
const admin = (url: string, method: string, path: string, body?: unknown) =>
  fetch(`${url}/v1/models/mnist${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN}` },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });

/** The status of one prediction from a running coordinator's model path. */
const predictStatus = async (url: string, path: string) =>
  (
    await fetch(`${url}/v1/models/mnist${path}:predict`, {
      method: 'POST',
      body: JSON.stringify({ instances: [x[0]] }),
    })
  ).status;

function expectClose(got: number[][], want: number[][]): void {
  got.forEach((row, i) => row.forEach((p, j) => expect(p).toBeCloseTo(want[i][j], 6)));
}

beforeAll(async () => {
  await setupBackend(undefined, { log: () => {}, argv: [], env: {} });
  dir = await mkdtemp(join(tmpdir(), 'fedserve-versions-'));
  store = new CheckpointStore(dir, { logger: silentLogger() });
  for (const version of [1, 2, 3, 4]) {
    const model = createSeedCnn(version * 7);
    models.set(version, model);
    await store.save({ ...artifactFromModel(model), version, round: version, metadata: {} });
  }
});
afterEach(async () => {
  for (const { server, registry } of open.splice(0)) {
    await new Promise((resolve) => server.close(resolve));
    registry.dispose();
  }
  vi.restoreAllMocks();
});
afterAll(async () => {
  for (const m of models.values()) m.dispose();
  await rm(dir, { recursive: true, force: true });
});

describe('version policy, labels and status through REST', () => {
  it('keeps the latest N loaded, refuses older versions naming the policy, and reports TF Serving states', async () => {
    const s = await serve({ policy: { kind: 'latest', count: 2 } });
    expect(s.registry.loadedVersions().sort()).toEqual([3, 4]);
    expect(await s.states()).toEqual({ '4': 'AVAILABLE', '3': 'AVAILABLE', '2': 'END', '1': 'END' });
    expect((await s.call('GET', '')).json.model_version_status[0]).toEqual({
      version: '4',
      state: 'AVAILABLE',
      status: { error_code: 'OK', error_message: '' },
    });
    expectClose((await s.predict('/versions/3')).json.predictions, local(3));
    expect(await s.predict('/versions/2')).toEqual({
      status: 404,
      json: {
        error:
          "model 'mnist' version 2 is not served: the version policy serves the latest 2 versions and labeled ones",
      },
    });
    expect((await s.predict('/versions/9')).json.error).toBe("model 'mnist' has no version 9");
    expect((await s.call('GET', '/versions/2')).json.model_version_status).toEqual([
      { version: '2', state: 'END', status: { error_code: 'OK', error_message: '' } },
    ]);
  });

  it('serves a label set with the admin token, pins its version past the policy, and forgets it when removed', async () => {
    const s = await serve({ policy: { kind: 'latest', count: 1 } });
    expect(await s.call('PUT', '/labels/stable', { version: 2 }, null)).toMatchObject({ status: 401 });
    expect(await s.call('PUT', '/labels/stable', { version: 2 }, 'wrong-token-123')).toMatchObject({ status: 403 });
    expect(await s.call('PUT', '/labels/stable', { version: 2 })).toEqual({
      status: 200,
      json: { labels: { stable: 2 } },
    });
    expect(await s.call('PUT', '/labels/canary', { version: 4 })).toEqual({
      status: 200,
      json: { labels: { canary: 4, stable: 2 } },
    });
    expect(await s.call('GET', '/labels', undefined, null)).toEqual({
      status: 200,
      json: { labels: { canary: 4, stable: 2 } },
    });
    expectClose((await s.predict('/labels/stable')).json.predictions, local(2));
    expectClose((await s.predict('/labels/canary')).json.predictions, local(4));
    expect((await s.call('GET', '/labels/stable/metadata', undefined, null)).json.fedserve.version).toBe(2);
    expect((await s.call('GET', '/labels/stable', undefined, null)).json.model_version_status).toEqual([
      { version: '2', state: 'AVAILABLE', status: { error_code: 'OK', error_message: '' } },
    ]);
    expect(await s.states()).toEqual({ '4': 'AVAILABLE', '3': 'END', '2': 'AVAILABLE', '1': 'END' });
    // Moving a label moves the traffic.
    await s.call('PUT', '/labels/stable', { version: 1 });
    expectClose((await s.predict('/labels/stable')).json.predictions, local(1));
    expect(await s.states()).toEqual({ '4': 'AVAILABLE', '3': 'END', '2': 'END', '1': 'AVAILABLE' });
    expect(await s.call('DELETE', '/labels/stable')).toEqual({ status: 200, json: { labels: { canary: 4 } } });
    expect(await s.predict('/labels/stable')).toEqual({
      status: 404,
      json: { error: "model 'mnist' has no version labeled 'stable'" },
    });
    expect(s.registry.loadedVersions()).toEqual([4]);
  });

  it.each([
    [
      'a label on a version that does not exist',
      'PUT',
      '/labels/stable',
      { version: 9 },
      404,
      /^version 9 does not exist, so label 'stable' cannot point at it$/,
    ],
    [
      'a body without a version',
      'PUT',
      '/labels/stable',
      { v: 1 },
      400,
      /^invalid body: expected \{"version": <non-negative integer>\}/,
    ],
    ['a negative version', 'PUT', '/labels/stable', { version: -1 }, 400, /^invalid body/],
    ['a malformed label', 'PUT', '/labels/Stable!', { version: 1 }, 400, /^a version label is a-z, then up to 63/],
    [
      'removing a label that is not set',
      'DELETE',
      '/labels/nothing',
      undefined,
      404,
      /^model 'mnist' has no version labeled 'nothing'$/,
    ],
    [
      'posting to a label',
      'POST',
      '/labels/stable',
      { version: 1 },
      405,
      /POST is not allowed here; use GET or PUT or DELETE/,
    ],
  ])('refuses %s', async (_what, method, path, body, status, message) => {
    const s = await serve({});
    const res = await s.call(method, path, body);
    expect(res.status).toBe(status);
    expect(res.json.error).toMatch(message);
    expect(s.registry.allLabels()).toEqual({});
  });

  it('serves only specific versions, the newest of them for unversioned requests', async () => {
    const s = await serve({ policy: { kind: 'specific', versions: [1, 3] } }, 3);
    expect(s.registry.loadedVersions().sort()).toEqual([1, 3]);
    expect((await s.call('GET', '/metadata', undefined, null)).json.fedserve.version).toBe(3);
    expect(await s.states()).toEqual({ '4': 'END', '3': 'AVAILABLE', '2': 'END', '1': 'AVAILABLE' });
    expect(await s.registry.publish(4, await store.load(4))).toBeNull();
    expectClose((await s.predict('')).json.predictions, local(3));
    expect((await s.predict('/versions/4')).status).toBe(404);
  });

  it('sets the labels of the config at start, and refuses to start with a label on a missing version', async () => {
    const config = (labels: Record<string, number>, sub: string) =>
      parseCoordinatorConfig(
        { port: 0, dataDir: join(dir, sub), adminToken: ADMIN, serving: { versionLabels: labels } },
        'test',
      );
    await expect(startCoordinator(config({ stable: 5 }, 'a'), { logger: silentLogger() })).rejects.toThrow(
      /^version 5 does not exist, so label 'stable' cannot point at it$/,
    );
    expect(() => config({ 'Not A Label': 0 }, 'c')).toThrow(
      /Invalid key in record[\s\S]*serving\.versionLabels\["Not A Label"\]/,
    );
    const running = await startCoordinator(config({ stable: 0 }, 'b'), { logger: silentLogger() });
    try {
      expect(await (await fetch(`${running.url}/v1/models/mnist/labels`)).json()).toEqual({ labels: { stable: 0 } });
      expect(await predictStatus(running.url, '/labels/stable')).toBe(200);
    } finally {
      await running.close();
    }
  });

  it('keeps label changes made over REST across a restart, on top of the config', async () => {
    const sub = join(dir, 'restart');
    const config = (labels: Record<string, number>) =>
      parseCoordinatorConfig({ port: 0, dataDir: sub, adminToken: ADMIN, serving: { versionLabels: labels } }, 'test');
    const labels = async (url: string) => (await (await fetch(`${url}/v1/models/mnist/labels`)).json()) as unknown;
    let running = await startCoordinator(config({ stable: 0, old: 0 }), { logger: silentLogger() });
    try {
      expect((await admin(running.url, 'PUT', '/labels/canary', { version: 0 })).status).toBe(200);
      expect((await admin(running.url, 'DELETE', '/labels/old')).status).toBe(200);
      expect(await labels(running.url)).toEqual({ labels: { canary: 0, stable: 0 } });
      const policy = await admin(running.url, 'PUT', '/version-policy', { kind: 'latest', count: 1 });
      expect(await policy.json()).toEqual({ policy: { kind: 'latest', count: 1 } });
    } finally {
      await running.close();
    }
    // Restarted with the config edited: 'old' stays removed, 'canary' stays, the new 'beta' appears.
    running = await startCoordinator(config({ stable: 0, old: 0, beta: 0 }), { logger: silentLogger() });
    try {
      expect(await labels(running.url)).toEqual({ labels: { beta: 0, canary: 0, stable: 0 } });
      expect(await (await fetch(`${running.url}/v1/models/mnist/version-policy`)).json()).toEqual({
        policy: { kind: 'latest', count: 1 },
      });
      expect(await predictStatus(running.url, '/labels/canary')).toBe(200);
    } finally {
      await running.close();
    }
  });

  it('sets the version policy through REST with the admin token, loading and unloading versions', async () => {
    const s = await serve({});
    expect(await s.call('GET', '/version-policy', undefined, null)).toEqual({
      status: 200,
      json: { policy: { kind: 'all' } },
    });
    const put = (body: unknown, token: string | null = ADMIN) => s.call('PUT', '/version-policy', body, token);
    expect(await put({ kind: 'latest', count: 1 }, null)).toMatchObject({ status: 401 });
    expect(await put({ kind: 'latest', count: 1 }, 'wrong-token-123')).toMatchObject({ status: 403 });
    expect(await put({ kind: 'latest', count: 0 })).toMatchObject({
      status: 400,
      json: { error: expect.stringMatching(/^invalid body: expected .*\(count: /) as unknown },
    });
    expect(await put({ kind: 'newest' })).toMatchObject({ status: 400 });
    expect(await put({ kind: 'specific', versions: [7, 9] })).toEqual({
      status: 404,
      json: { error: 'none of versions 7, 9 exist (stored: 1, 2, 3, 4), so that policy would serve nothing' },
    });
    expect(s.registry.versionPolicy()).toEqual({ kind: 'all' });

    expect(await put({ kind: 'specific', versions: [1, 3, 9] })).toEqual({
      status: 200,
      json: { policy: { kind: 'specific', versions: [1, 3, 9] } },
    });
    expect(s.registry.loadedVersions().sort()).toEqual([1, 3]);
    expect(await s.states()).toEqual({ '4': 'END', '3': 'AVAILABLE', '2': 'END', '1': 'AVAILABLE' });
    expectClose((await s.predict('')).json.predictions, local(3));
    expect((await s.predict('/versions/4')).status).toBe(404);

    expect((await put({ kind: 'latest', count: 2 })).status).toBe(200);
    expect(s.registry.loadedVersions().sort()).toEqual([3, 4]);
    expectClose((await s.predict('')).json.predictions, local(4));

    // Back to all: the newest version answers again, and older ones load on demand.
    expect((await put({ kind: 'specific', versions: [2] })).status).toBe(200);
    expectClose((await s.predict('')).json.predictions, local(2));
    expect((await put({ kind: 'all' })).status).toBe(200);
    expectClose((await s.predict('')).json.predictions, local(4));
    expectClose((await s.predict('/versions/1')).json.predictions, local(1));
    expect(await s.call('DELETE', '/version-policy')).toMatchObject({ status: 405 });
  });

  it('undoes a label change it cannot save, answering 500', async () => {
    const file = join(dir, 'failing-labels.json');
    const failing = {
      ...nodeSyncFileSystem,
      fsyncSync: () => {
        throw new Error('EIO: i/o error, fsync');
      },
    };
    const overrides = ServingOverrides.load(file, failing);
    const s = await serve({}, 4, overrides);
    await s.registry.setLabel('stable', 2);
    expect(await s.call('PUT', '/labels/stable', { version: 3 })).toEqual({
      status: 500,
      json: {
        error: "internal error: could not save the change of label 'stable', so it was undone: EIO: i/o error, fsync",
      },
    });
    expect((await s.call('PUT', '/labels/canary', { version: 4 })).status).toBe(500);
    expect((await s.call('DELETE', '/labels/stable')).status).toBe(500);
    expect(s.registry.allLabels()).toEqual({ stable: 2 });
    expect(overrides.labels({})).toEqual({});
    // The version policy likewise.
    expect((await s.call('PUT', '/version-policy', { kind: 'latest', count: 1 })).status).toBe(500);
    expect(s.registry.versionPolicy()).toEqual({ kind: 'all' });
    expect(overrides.policy({ kind: 'all' })).toEqual({ kind: 'all' });
    expect(s.registry.loadedVersions().sort()).toEqual([2, 4]);
  });

  it('warms a new version up before it takes traffic, reporting it LOADING meanwhile', async () => {
    const s = await serve({ warmupBatchSizes: [1, 8] }, 3);
    const seen: { version: number; n: number; current: number; state: VersionStatus['state'] | undefined }[] = [];
    // eslint-disable-next-line @typescript-eslint/unbound-method -- called below with the spied instance as this
    const original = ServedModel.prototype.predict;
    vi.spyOn(ServedModel.prototype, 'predict').mockImplementation(async function (
      this: ServedModel,
      input: Float32Array,
      n: number,
    ) {
      const state = (await s.registry.status()).find((v) => v.version === this.version)?.state;
      seen.push({ version: this.version, n, current: s.registry.current()!.version, state });
      return original.call(this, input, n);
    });
    await s.registry.publish(4, await store.load(4));
    expect(seen).toEqual([
      { version: 4, n: 1, current: 3, state: 'LOADING' },
      { version: 4, n: 8, current: 3, state: 'LOADING' },
    ]);
    expect(s.registry.current()!.version).toBe(4);
    expect((await s.states())['4']).toBe('AVAILABLE');
  });
});
