import { createHash, X509Certificate } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeClient } from '../../client/node-client.js';
import type { Progress } from '../../client/progress.js';
import { startCoordinator, type RunningCoordinator } from '../../server/app.js';
import { parseCoordinatorConfig } from '../../server/config.js';
import { ensureWebBundle } from '../../server/web/bundle.js';
import { shard } from '../../shared/data/dataset.js';
import { loadMnist } from '../../shared/data/mnist.node.js';
import { setupBackend } from '../../shared/engine/backend.js';
import { makeCertificate, type TestCertificate } from '../e2e/tls-helpers.js';
import { launchChromium } from './helpers.js';
import { silentLogger } from '../../server/logger.js';

/**
 * The browser client page served over https by the coordinator itself. Chromium resolves
 * fedserve.test to 127.0.0.1, so the page's origin is not loopback: only https makes it a secure
 * context with WebCrypto, which a secure round needs. The certificate is trusted by its key hash
 * (what --ignore-certificate-errors-spki-list is for), as a private CA would be on a real machine.
 */

const HOST = 'fedserve.test';
const SHARDS = 40;

let dir: string;
let tls: TestCertificate;
let coordinator: RunningCoordinator;
let browser: Browser;
let plainHttp: Server;
const nodeClients: { client: NodeClient; run: Promise<void> }[] = [];
const silent: Progress = { line: () => {}, step: () => {}, end: () => {} };

function spkiHash(pem: string): string {
  const spki = new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('base64');
}

beforeAll(async () => {
  await Promise.all([ensureWebBundle(), setupBackend(undefined, { log: () => {}, argv: [], env: {} })]);
  dir = await mkdtemp(join(tmpdir(), 'fedserve-browser-tls-'));
  tls = makeCertificate(dir);
  const config = parseCoordinatorConfig(
    {
      port: 0,
      host: '127.0.0.1',
      dataDir: join(dir, 'data'),
      tls: { cert: tls.cert, key: tls.key },
      rounds: { selectionWindowMs: 0, trainingTimeoutMs: 60_000, minResults: 3 },
      strategy: { sampler: { minClients: 3, maxClients: 3 } },
      training: { epochs: 1, batchSize: 20, learningRate: 0.1, optimizer: 'sgd' },
      secureAggregation: { enabled: true },
    },
    'browser tls test',
  );
  coordinator = await startCoordinator(config, { logger: silentLogger() });
  // The same host over plain http, to show the mapping makes an origin that is not secure by itself.
  plainHttp = createServer((_, res) => res.end('<!doctype html><title>plain</title>'));
  await new Promise<void>((resolve) => plainHttp.listen(0, '127.0.0.1', resolve));
  browser = await launchChromium([
    `--host-resolver-rules=MAP ${HOST} 127.0.0.1`,
    `--ignore-certificate-errors-spki-list=${spkiHash(tls.pem)}`,
  ]);
});

afterAll(async () => {
  for (const { client } of nodeClients) client.stop();
  await Promise.all(nodeClients.map(({ run }) => run.catch(() => {})));
  await browser?.close();
  await new Promise((resolve) => plainHttp?.close(resolve));
  await coordinator?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function open(url: string): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  await page.goto(url);
  return page;
}

describe('browser client over TLS', () => {
  it(
    'the page over https is a secure context with WebCrypto and trains in a secure round with two Node clients',
    { timeout: 90_000 },
    async () => {
      const plain = await open(`http://${HOST}:${(plainHttp.address() as AddressInfo).port}/`);
      await expect(plain.evaluate(() => window.isSecureContext)).resolves.toBe(false);

      const origin = `https://${HOST}:${coordinator.port}`;
      const page = await open(
        `${origin}/client?token=${encodeURIComponent(coordinator.joinToken)}&data=mnist:0/${SHARDS}&autostart=1&name=browser-0&backend=wasm`,
      );
      await expect(
        page.evaluate(() => ({ secure: window.isSecureContext, subtle: typeof crypto.subtle?.importKey })),
      ).resolves.toEqual({ secure: true, subtle: 'function' });

      const train = loadMnist().train;
      for (const i of [1, 2]) {
        const client = new NodeClient({
          server: coordinator.url,
          ca: tls.pem,
          token: coordinator.joinToken,
          data: shard(train, i, SHARDS),
          name: `node-${i}`,
          progress: silent,
        });
        nodeClients.push({ client, run: client.run() });
      }
      await page.locator('body[data-state=joined]').waitFor({ timeout: 30_000 });
      const committed = new Promise<void>((resolve) => coordinator.coordinator.once('committed', () => resolve()));
      coordinator.coordinator.startRounds(1);
      await committed;

      const [round] = coordinator.coordinator.rounds().rounds;
      expect(round.status, round.reason).toBe('committed');
      expect(round.secureAggregation).toMatchObject({ survivors: ['browser-0', 'node-1', 'node-2'], dropouts: [] });
      await page.locator('#local-rounds tr[data-accepted=true]').first().waitFor();
    },
  );
});
