import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WeightedMean } from '../../shared/aggregation/weighted-mean.js';
import type { Keystream } from '../../shared/secagg/keystream.js';
import { clientIds, runSecAgg } from '../shared/secagg/driver.js';
import { launchChromium } from './helpers.js';

/**
 * Secure aggregation between browser and Node clients: masks made by our WebCrypto code in
 * chromium must equal, byte for byte, the ones Node's OpenSSL makes, or no round could mix them.
 * The browser's masks go through a full SecAgg+ round, including a browser client that drops
 * after sharing keys, whose pairwise masks the coordinator then rebuilds with Node crypto.
 */

let server: Server;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  const bundle = await build({
    entryPoints: [fileURLToPath(new URL('./fixtures/keystream-page.ts', import.meta.url))],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    write: false,
    logLevel: 'silent',
  });
  const script = bundle.outputFiles[0].contents;
  server = createServer((req, res) => {
    if (req.url === '/keystream.js') return void res.writeHead(200, { 'content-type': 'text/javascript' }).end(script);
    res
      .writeHead(200, { 'content-type': 'text/html' })
      .end('<!doctype html><script type="module" src="/keystream.js"></script>');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  browser = await launchChromium();
  page = await browser.newPage();
  // 127.0.0.1 is a secure context, so WebCrypto is there.
  await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
  await page.waitForFunction(() => 'fedserveKeystream' in globalThis);
});

afterAll(async () => {
  await browser?.close();
  await new Promise((resolve) => server?.close(resolve));
});

const inBrowser: Keystream = async (key, bytes) => {
  const b64 = await page.evaluate(
    ([k, n]) =>
      (
        globalThis as unknown as { fedserveKeystream: (key: number[], bytes: number) => Promise<string> }
      ).fedserveKeystream(k, n),
    [Array.from(key), bytes] as const,
  );
  return new Uint8Array(Buffer.from(b64, 'base64'));
};

describe('SecAgg+ masks from a real browser', () => {
  it("chromium's WebCrypto keystream equals Node's AES-256-CTR", async () => {
    const { createCipheriv, randomBytes } = await import('node:crypto');
    for (const bytes of [0, 1, 15, 16, 17, 4096 + 5]) {
      const key = randomBytes(32);
      const node = createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(bytes));
      expect(Buffer.from(await inBrowser(key, bytes)).equals(node), `${bytes} bytes`).toBe(true);
    }
  });

  it('browser and Node clients complete a round, even when a browser client drops after sharing keys', async () => {
    const n = 6;
    const m = 50;
    const ids = clientIds(n);
    const browserClients = new Set(ids.filter((_, i) => i % 2 === 0));
    const updates = new Map(
      ids.map((id, i) => [
        id,
        { delta: Float32Array.from({ length: m }, (_, j) => Math.sin(i * 7 + j) * 0.5), numExamples: 50 + 10 * i },
      ]),
    );
    const dropped = ids[2];
    const run = await runSecAgg({
      clients: n,
      vectorLength: m,
      update: (id) => updates.get(id)!,
      graph: { k: 5, threshold: 4 },
      keystreamFor: (id) => (browserClients.has(id) ? inBrowser : undefined),
      dropAt: new Map([[dropped, 'masked-input']]),
    });
    if (run.outcome.kind !== 'done') throw new Error(`round aborted: ${run.outcome.reason}`);
    const survivors = ids.filter((id) => id !== dropped);
    expect(run.outcome.result.survivors).toEqual(survivors);
    const plain = new WeightedMean().aggregate(survivors.map((id) => ({ clientId: id, ...updates.get(id)! })));
    const { mean, errorBound } = run.outcome.result;
    // The stated bound, plus float32 rounding of both results.
    plain.forEach((p, i) =>
      expect(Math.abs(mean[i] - p), `coordinate ${i}`).toBeLessThanOrEqual(
        errorBound + 2 ** -24 * (Math.abs(p) + Math.abs(mean[i])),
      ),
    );
  });
});
