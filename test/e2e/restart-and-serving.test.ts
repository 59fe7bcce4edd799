import { createServer } from 'node:net';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadMnist } from '../../shared/data/mnist.node.js';
import { setupBackend } from '../../shared/engine/backend.js';
import { PublicRoundListSchema, type PublicRoundList } from '../../shared/protocol/public-rounds.js';
import { ADMIN_TOKEN, JOIN_TOKEN, killChild, spawnFedserve, startClient, tempDir, type TestClient } from './helpers.js';

/**
 * The coordinator as a real `fedserve server` process: killed with SIGKILL between rounds, then
 * restarted on the same port and data dir while in-process clients reconnect on their own.
 */

let dir: Awaited<ReturnType<typeof tempDir>>;
let url = '';
let args: string[] = [];
let server: ReturnType<typeof spawnFedserve> | undefined;
const clients: TestClient[] = [];
const { test: heldOut } = loadMnist();

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as { port: number }).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

async function startServer(): Promise<void> {
  server = spawnFedserve(args);
  await server.waitFor(/listening on http:\/\/127\.0\.0\.1:\d+/);
}

// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- each caller names the body it expects
async function json<T>(path: string, init?: RequestInit): Promise<{ status: number; body: T }> {
  const res = await fetch(`${url}${path}`, init);
  return { status: res.status, body: (await res.json()) as T };
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}\n${server?.output() ?? ''}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The public round listing: round, status and versions are all these tests read. */
async function rounds(): Promise<PublicRoundList> {
  return PublicRoundListSchema.parse((await json('/v1/rounds')).body);
}

async function runRound(): Promise<PublicRoundList['rounds'][number]> {
  const before = (await rounds()).rounds.length;
  const started = await json<{ firstRound: number }>('/v1/rounds', {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ rounds: 1 }),
  });
  expect(started.status).toBe(202);
  return until(`round ${started.body.firstRound} to close`, async () => {
    const list = await rounds();
    const r = list.rounds[before];
    return r && (r.status === 'committed' || r.status === 'failed') ? r : undefined;
  });
}

async function weightsBin(version: number): Promise<Float32Array> {
  const res = await fetch(`${url}/v1/models/mnist/versions/${version}/weights.bin`);
  expect(res.status).toBe(200);
  return new Float32Array(await res.arrayBuffer());
}

const digit = (k: number) => Array.from(heldOut.x.subarray(k * 784, (k + 1) * 784));
const nested = (k: number) => Array.from({ length: 28 }, (_, r) => digit(k).slice(r * 28, (r + 1) * 28));

beforeAll(async () => {
  await setupBackend('wasm', { log: () => undefined });
  dir = await tempDir();
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  args = [
    'server',
    '--port',
    String(port),
    '--host',
    '127.0.0.1',
    '--data-dir',
    dir.path,
    '--join-token',
    JOIN_TOKEN,
    '--admin-token',
    ADMIN_TOKEN,
    '--min-clients',
    '2',
    '--max-clients',
    '2',
    '--selection-window',
    '0',
    '--round-timeout',
    '60000',
  ];
  await startServer();
  clients.push(startClient(url, 'mnist:4/24', 'r0'), startClient(url, 'mnist:5/24', 'r1'));
});

afterAll(async () => {
  for (const c of clients) c.client.stop();
  await Promise.all(clients.map((c) => c.done.catch(() => undefined)));
  if (server) await killChild(server.child);
  await dir.remove();
});

describe('a coordinator process killed between rounds', () => {
  it('resumes with the same weights and the next round number, and its clients reconnect', async () => {
    const first = await runRound();
    expect(first).toMatchObject({ round: 1, status: 'committed', version: 1 });
    const committed = await weightsBin(1);

    await killChild(server!.child, 'SIGKILL');
    await startServer();
    const health = await json<{ version: number; nextRound: number }>('/v1/health');
    expect(health.body).toMatchObject({ version: 1, nextRound: 2 });
    expect(await weightsBin(1)).toEqual(committed);
    expect((await rounds()).rounds.map((r) => [r.round, r.status])).toEqual([[1, 'committed']]);

    await until('both clients to reconnect', async () =>
      (await json<{ connectedClients: number }>('/v1/health')).body.connectedClients === 2 ? true : undefined,
    );
    const second = await runRound();
    expect(second).toMatchObject({ round: 2, status: 'committed', baseVersion: 1, version: 2 });
    expect(clients.every((c) => c.outcomes.some((o) => o.round === 2 && o.accepted))).toBe(true);
  });
});

describe('the served global model', () => {
  it('answers TF Serving row and columnar predicts and the seed /predict with the same probabilities', async () => {
    // A committed version warms up (LOADING) before it takes traffic; version 1 answers meanwhile.
    await until('version 2 to take traffic', async () => {
      const s = await json<{ model_version_status: { state: string }[] }>('/v1/models/mnist');
      return s.body.model_version_status[0]?.state === 'AVAILABLE' ? true : undefined;
    });
    const status = await json<{ model_version_status: { version: string; state: string }[] }>('/v1/models/mnist');
    expect(status.body.model_version_status[0]).toEqual({
      version: '2',
      state: 'AVAILABLE',
      status: { error_code: 'OK', error_message: '' },
    });

    const post = (path: string, body: unknown) =>
      json<Record<string, number[][] | number[] | string>>(path, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const rows = await post('/v1/models/mnist:predict', { instances: [digit(0), nested(1)] });
    expect(rows.status).toBe(200);
    const predictions = rows.body.predictions as number[][];
    expect(predictions).toHaveLength(2);
    for (const p of predictions) {
      expect(p).toHaveLength(10);
      expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
    }
    const columns = await post('/v1/models/mnist/versions/2:predict', { inputs: [digit(0), nested(1)] });
    expect(columns.status).toBe(200);
    expect(columns.body.outputs).toEqual(predictions);
    const seed = await post('/predict', { x_input: digit(0) });
    expect(seed.status).toBe(200);
    expect(seed.body.prediction).toEqual(predictions[0]);

    const older = await post('/v1/models/mnist/versions/1:predict', { instances: [digit(0)] });
    expect(older.status).toBe(200);
    expect(older.body.predictions).not.toEqual([predictions[0]]);
    expect((await post('/v1/models/mnist/versions/99:predict', { instances: [digit(0)] })).status).toBe(404);
    expect((await post('/v1/models/other:predict', { instances: [digit(0)] })).status).toBe(404);
    const bad = await post('/v1/models/mnist:predict', { instances: [[1, 2, 3]] });
    expect(bad.status).toBe(400);
    expect(typeof bad.body.error).toBe('string');
  });

  it('serves a model.json that stock tf.loadLayersModel loads and that predicts like the REST API', async () => {
    const model = await tf.loadLayersModel(`${url}/v1/models/mnist/model.json`);
    const local = tf.tidy(
      () => (model.predict(tf.tensor(digit(2), [1, 28, 28, 1])) as tf.Tensor).arraySync() as number[][],
    );
    model.dispose();
    const remote = await json<{ predictions: number[][] }>('/v1/models/mnist:predict', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ instances: [nested(2)] }),
    });
    local[0].forEach((p, i) => expect(p).toBeCloseTo(remote.body.predictions[0][i], 5));
  });

  it('reports rounds, clients and update bytes in Prometheus format', async () => {
    const res = await fetch(`${url}/metrics`);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    expect(text).toContain('# TYPE fedserve_rounds_total counter');
    // Counted since the restart: round 2 only.
    expect(text).toMatch(/^fedserve_rounds_total\{outcome="committed"\} 1$/m);
    expect(text).toMatch(/^fedserve_connected_clients 2$/m);
    expect(text).toMatch(/^fedserve_update_bytes_total [1-9]\d*$/m);
    expect(text).toMatch(/^fedserve_round_duration_seconds_count 1$/m);
    // The predict tests above: latency and batch-size histograms per version.
    expect(text).toContain('# TYPE fedserve_predict_latency_seconds histogram');
    for (const version of [1, 2]) {
      expect(text).toMatch(
        new RegExp(`^fedserve_predict_latency_seconds_count\\{model="mnist",version="${version}"\\} [1-9]\\d*$`, 'm'),
      );
      expect(text).toMatch(
        new RegExp(`^fedserve_predict_batch_size_sum\\{model="mnist",version="${version}"\\} [1-9]\\d*$`, 'm'),
      );
    }
  });

  it('exits cleanly on SIGTERM', async () => {
    const exit = new Promise<number | null>((resolve) => server!.child.once('exit', (code) => resolve(code)));
    server!.child.kill('SIGTERM');
    expect(await exit).toBe(0);
  });
});
