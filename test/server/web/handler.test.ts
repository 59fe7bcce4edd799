import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer, get, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeShard } from '../../../shared/data/shard-codec.js';
import { shard } from '../../../shared/data/dataset.js';
import { loadMnist } from '../../../shared/data/mnist.node.js';
import { createWebHandler } from '../../../server/web/handler.js';
import { lineLogger } from '../../../server/logger.js';

let server: Server;
let base: string;

beforeAll(async () => {
  const handle = createWebHandler();
  server = createServer((req, res) => {
    void handle(req, res).then((handled) => {
      if (!handled) res.writeHead(418).end('not web');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

/** A request exactly as given: fetch() would normalise the path and decompress the body. */
function rawGet(
  path: string,
  headers: Record<string, string>,
): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port: new URL(base).port, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res
        .on('data', (c: Buffer) => chunks.push(c))
        .on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
    }).on('error', reject);
  });
}

describe('web handler', () => {
  it('serves the dashboard and the client page with a same-origin-only policy', async () => {
    for (const [path, title] of [
      ['/', 'dashboard'],
      ['/client?token=x', 'browser client'],
    ]) {
      const res = await fetch(base + path);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/html/);
      expect(res.headers.get('content-security-policy')).toMatch(/connect-src 'self'/);
      expect(await res.text()).toContain(`<title>fedserve · ${title}</title>`);
    }
  });

  it('serves the bundle and the tfjs wasm binaries with their types', async () => {
    const js = await fetch(`${base}/web/client.js`);
    expect(js.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect((await js.arrayBuffer()).byteLength).toBeGreaterThan(100_000);
    const wasm = await fetch(`${base}/web/tfjs-wasm/tfjs-backend-wasm-simd.wasm`);
    expect(wasm.headers.get('content-type')).toBe('application/wasm');
    expect(new Uint8Array(await wasm.arrayBuffer()).subarray(0, 4)).toEqual(Uint8Array.from([0, 0x61, 0x73, 0x6d]));
    const gz = await rawGet('/web/dashboard.js', { 'accept-encoding': 'gzip' });
    const plain = await rawGet('/web/dashboard.js', {});
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(gz.body.byteLength).toBeLessThan(plain.body.byteLength / 2);
    expect(gunzipSync(gz.body).equals(plain.body)).toBe(true);
    const revalidated = await rawGet('/web/dashboard.js', {
      'if-modified-since': String(plain.headers['last-modified']),
    });
    expect(revalidated.status).toBe(304);
    expect(revalidated.body.byteLength).toBe(0);
    // The training Web Workers hold the page's data: their script carries the page's policy.
    const worker = await fetch(`${base}/web/training-worker.js`);
    expect(worker.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(worker.headers.get('content-security-policy')).toMatch(/connect-src 'self'/);
    expect(js.headers.get('content-security-policy')).toBeNull();
    const head = await fetch(`${base}/web/dashboard.js`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(Number(head.headers.get('content-length'))).toBeGreaterThan(0);
  });

  it('serves demo MNIST shards holding the digits a Node client gets for the same spec', async () => {
    const res = await fetch(`${base}/web/data/mnist/2/40`);
    expect(res.headers.get('content-type')).toBe('application/octet-stream');
    const ds = decodeShard(new Uint8Array(await res.arrayBuffer()));
    const expected = shard(loadMnist().train, 2, 40);
    expect(ds.y).toEqual(expected.y);
    expect(ds.x).toEqual(expected.x);
  });

  it('refuses bad paths and methods with a JSON error, and leaves other paths alone', async () => {
    const cases: [string, RequestInit, number, RegExp][] = [
      ['/web/data/mnist/40/40', {}, 400, /shard index must be in 0..39/],
      ['/web/data/mnist/0/0', {}, 400, /shard count must be in 1..8000/],
      ['/web/tfjs-wasm/evil.wasm', {}, 404, /no such wasm binary/],
      ['/web/manifest.json', {}, 404, /no such file/],
      ['/client', { method: 'POST', body: '{}' }, 405, /use GET/],
    ];
    for (const [path, init, status, message] of cases) {
      const res = await fetch(base + path, init);
      expect(res.status, path).toBe(status);
      expect(((await res.json()) as { error: string }).error).toMatch(message);
    }
    expect((await rawGet('/web/../package.json', {})).status).toBe(404);
    expect((await fetch(`${base}/v1/health`)).status).toBe(418);
    expect((await fetch(`${base}/clients`)).status).toBe(418);
  });
});

describe('web handler of an installed package (no build)', () => {
  it('answers 503 naming the missing bundle, logs it, and writes nothing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fedserve-web-'));
    const logs: string[] = [];
    const handle = createWebHandler({ dir, build: false, logger: lineLogger((l) => logs.push(l)) });
    const missing = createServer((req, res) => void handle(req, res));
    await new Promise<void>((resolve) => missing.listen(0, '127.0.0.1', resolve));
    try {
      const res = await fetch(`http://127.0.0.1:${(missing.address() as AddressInfo).port}/`);
      expect(res.status).toBe(503);
      expect(((await res.json()) as { error: string }).error).toBe(
        `web UI unavailable: the web bundle is missing from ${dir} (no valid manifest.json): this fedserve install is incomplete; reinstall the package, which ships it prebuilt`,
      );
      expect(logs.join('\n')).toMatch(/web UI unavailable: the web bundle is missing/);
      expect(await readdir(dir)).toEqual([]);
    } finally {
      await new Promise((resolve) => missing.close(resolve));
      await rm(dir, { recursive: true, force: true });
    }
  });
});
