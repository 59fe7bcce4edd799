import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeClient } from '../../client/node-client.js';
import type { Progress } from '../../client/progress.js';
import { startCoordinator, type RunningCoordinator } from '../../server/app.js';
import { parseCoordinatorConfig } from '../../server/config.js';
import { ensureWebBundle } from '../../server/web/bundle.js';
import { featureSize, shard, type Dataset } from '../../shared/data/dataset.js';
import { loadMnist } from '../../shared/data/mnist.node.js';
import { setupBackend } from '../../shared/engine/backend.js';
import { bmp, launchChromium, watchOutgoing, type Outbox } from './helpers.js';
import { silentLogger } from '../../server/logger.js';

/**
 * The browser client and the dashboard in a real browser (Debian's chromium): two in-page
 * clients and one Node client federate two rounds, started from the dashboard's admin control.
 */

const ARTIFACTS = fileURLToPath(new URL('./__artifacts__/', import.meta.url));
/** 40 shards of the 8,000 training digits: 200 digits per client keeps a round to seconds. */
const SHARDS = 40;
const ROUNDS = 2;

let dir: string;
let coordinator: RunningCoordinator;
let browser: Browser;
let nodeClient: NodeClient;
let nodeRun: Promise<void>;
const contexts: BrowserContext[] = [];
/** The two in-page clients of the federation test, shard i for page i. */
let clientPages: { page: Page; outbox: Outbox }[] = [];
const train = loadMnist().train;

const silent: Progress = { line: () => {}, step: () => {}, end: () => {} };

beforeAll(async () => {
  await Promise.all([ensureWebBundle(), setupBackend(undefined, { log: () => {}, argv: [], env: {} })]);
  dir = await mkdtemp(join(tmpdir(), 'fedserve-browser-'));
  const config = parseCoordinatorConfig(
    {
      port: 0,
      host: '127.0.0.1',
      dataDir: join(dir, 'data'),
      eval: 'mnist:test',
      rounds: { selectionWindowMs: 0, trainingTimeoutMs: 120_000, minResults: 3 },
      strategy: { sampler: { minClients: 3, maxClients: 3 } },
      training: { epochs: 1, batchSize: 20, learningRate: 0.1, optimizer: 'sgd' },
      // Browser and Node clients mask compatibly: the coordinator only ever sees the sum of their updates.
      secureAggregation: { enabled: true },
    },
    'browser test',
  );
  coordinator = await startCoordinator(config, { logger: silentLogger() });
  browser = await launchChromium();
});

afterAll(async () => {
  nodeClient?.stop();
  await nodeRun?.catch(() => {});
  await Promise.all(contexts.map((c) => c.close()));
  await browser?.close();
  await coordinator?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function openPage(path: string): Promise<{ page: Page; outbox: Outbox }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  contexts.push(context);
  const page = await context.newPage();
  const outbox = watchOutgoing(page);
  await page.goto(coordinator.url + path);
  return { page, outbox };
}

async function waitFor(what: string, done: () => boolean, timeoutMs = 60_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Byte and text patterns that only a copy of a raw example would contain: 16 float32 pixels from
 * the example's first ink, the same as bytes 0..255, and three of them printed as JSON would.
 */
function rawExampleProbes(ds: Dataset): { bytes: Buffer[]; text: string[] } {
  const f = featureSize(ds);
  const bytes: Buffer[] = [];
  const text: string[] = [];
  for (let i = 0; i < ds.n; i++) {
    const example = ds.x.subarray(i * f, (i + 1) * f);
    const ink = example.findIndex((v) => v > 0);
    const window = example.slice(ink, ink + 16);
    bytes.push(Buffer.from(window.buffer), Buffer.from(Array.from(window, (v) => Math.round(v * 255))));
    text.push(Array.from(window.subarray(0, 3)).join(','));
  }
  return { bytes, text };
}

function leaked(payloads: Buffer[], probes: { bytes: Buffer[]; text: string[] }): number {
  return payloads.filter((p) => probes.bytes.some((b) => p.includes(b)) || probes.text.some((t) => p.includes(t)))
    .length;
}

describe('browser clients and the dashboard', () => {
  it(
    'two browser clients and a Node client complete two rounds; no raw example leaves a page',
    { timeout: 170_000 },
    async () => {
      const { page: dashboard } = await openPage('/');
      await dashboard.locator('#feed-state', { hasText: 'live' }).waitFor();

      const pages = (clientPages = await Promise.all(
        [0, 1].map((i) =>
          openPage(
            `/client?token=${encodeURIComponent(coordinator.joinToken)}&data=mnist:${i}/${SHARDS}&autostart=1&name=browser-${i}&backend=wasm&eval-split=0.2`,
          ),
        ),
      ));
      nodeClient = new NodeClient({
        server: coordinator.url,
        token: coordinator.joinToken,
        data: shard(train, 2, SHARDS),
        // A secure evaluation needs 3 evaluators: the Node client holds 40 test digits out.
        evalData: shard(loadMnist().test, 0, 50),
        name: 'node-0',
        progress: silent,
      });
      nodeRun = nodeClient.run();
      await waitFor('three connected clients', () => coordinator.coordinator.connectedClients().length === 3);
      for (const { page } of pages) {
        await page.locator('body[data-state=joined]').waitFor();
        await expect(page.locator('#backend').textContent()).resolves.toMatch(/backend 'wasm'.*WebAssembly/);
      }

      // Every phase the dashboard shows, as it shows it: the page is live, not reloaded.
      await dashboard.evaluate(() => {
        const phase = document.getElementById('phase')!;
        const seen: string[] = [];
        (window as unknown as { phasesSeen: string[] }).phasesSeen = seen;
        new MutationObserver(() => seen.push(phase.textContent ?? '')).observe(phase, {
          childList: true,
          characterData: true,
          subtree: true,
        });
      });
      // The admin control asks for the token, then queues a round.
      await dashboard.fill('#start-count', '1');
      await dashboard.click('#start');
      await dashboard.fill('#admin-token', coordinator.adminToken);
      await dashboard.click('#token-ok');
      await dashboard.locator('#start-result', { hasText: 'queued 1 round(s), starting with round 1' }).waitFor();
      await dashboard.locator('body[data-committed-rounds="1"]').waitFor({ timeout: 90_000 });

      // Reloaded, a named page comes back with the identity its name is bound to (kept in
      // localStorage) and takes part in the next secure round; its peers pinned that key in round 1.
      const reloaded = pages[0].page;
      await reloaded.reload();
      await reloaded.locator('body[data-state=failed], #log li:has-text("joined as browser-0")').first().waitFor();
      await expect(reloaded.locator('#connection').textContent()).resolves.toBe('joined');
      await waitFor('three connected clients again', () => coordinator.coordinator.connectedClients().length === 3);
      // The admin token is kept for the tab: no second prompt.
      await dashboard.click('#start');
      await dashboard.locator('#start-result', { hasText: 'queued 1 round(s), starting with round 2' }).waitFor();
      await dashboard.locator(`body[data-committed-rounds="${ROUNDS}"]`).waitFor({ timeout: 90_000 });

      const phases = await dashboard.evaluate(() => (window as unknown as { phasesSeen: string[] }).phasesSeen);
      expect(phases.some((p) => p.startsWith('training'))).toBe(true);
      await dashboard.locator('#phase', { hasText: 'committed; no round running' }).waitFor();

      const rounds = coordinator.coordinator.rounds().rounds;
      expect(rounds.map((r) => r.status)).toEqual(['committed', 'committed']);
      for (const r of rounds) {
        expect(r.contributions.map((c) => c.clientId).sort()).toEqual(['browser-0', 'browser-1', 'node-0']);
        // Securely aggregated: the coordinator unmasked only the sum of the three.
        expect(r.secureAggregation).toMatchObject({
          k: 2,
          threshold: 2,
          survivors: ['browser-0', 'browser-1', 'node-0'],
          dropouts: [],
        });
        // The pages held out 20% of their digits, the Node client 40 test digits, and each scored every
        // new model on them inside a secure sum: the coordinator has the total, not theirs.
        expect(r.federatedEvaluation?.reported.sort()).toEqual(['browser-0', 'browser-1', 'node-0']);
        expect(r.federatedEvaluation?.numExamples).toBe(120);
        expect(r.federatedEvaluation?.secure?.aborted).toBeUndefined();
      }
      // The reloaded page shows only the round it trained since.
      for (const [i, { page }] of pages.entries()) {
        await expect(page.locator('#local-rounds tr[data-accepted=true]').count()).resolves.toBe(i === 0 ? 1 : ROUNDS);
        await page.locator('#global-version[data-version="2"]').waitFor();
      }

      // The chart plots both rounds; keep a screenshot to look at.
      const points = await dashboard.evaluate(() =>
        (window as unknown as { fedserveChart: { pointCounts(): Record<string, number> } }).fedserveChart.pointCounts(),
      );
      expect(points).toEqual({
        'held-out accuracy': 2,
        'federated accuracy': 2,
        'client accuracy': 2,
        'held-out loss': 2,
        'federated loss': 2,
        'client loss': 2,
      });
      await expect(dashboard.locator('#rounds tr').count()).resolves.toBe(ROUNDS);
      const secureCells = await dashboard.locator('#rounds td.text').allTextContents();
      expect(secureCells).toHaveLength(ROUNDS);
      for (const text of secureCells) expect(text).toMatch(/^k=2, t=2; 3 survived, 0 dropped; error ≤ \d\.\de-\d+$/);
      await expect(dashboard.locator('#rounds a[href$="/versions/2/model.json"]').count()).resolves.toBe(1);
      await mkdir(ARTIFACTS, { recursive: true });
      await dashboard.screenshot({ path: join(ARTIFACTS, 'dashboard.png'), fullPage: true });

      // Every request body and socket frame each page sent, searched for its own raw examples.
      const parameterBytes = coordinator.coordinator.task.info.parameterCount * 4;
      for (const [i, { outbox }] of pages.entries()) {
        const probes = rawExampleProbes(shard(train, i, SHARDS));
        const local = shard(train, i, SHARDS);
        expect(leaked([Buffer.from(local.x.buffer)], probes), 'the probes find raw data when it is there').toBe(1);
        const sent = [...outbox.requests.map((r) => r.body), ...outbox.frames.map((f) => f.payload)];
        expect(
          outbox.frames.filter((f) => f.binary && f.payload.byteLength >= parameterBytes).length,
          'updates were watched',
        ).toBe(ROUNDS);
        expect(leaked(sent, probes)).toBe(0);
        expect(outbox.requests.every((r) => new URL(r.url).origin === coordinator.url)).toBe(true);
      }
    },
  );

  it('predicts a digit in the page as the REST API does', async () => {
    const { page } = clientPages[0];
    const index = 7;
    await page.fill('#predict-index', String(index));
    await page.click('#predict');
    const out = page.locator('#prediction[data-version="2"]');
    await out.waitFor();
    const inPage = JSON.parse((await out.getAttribute('data-probabilities'))!) as number[];

    const example = shard(train, 0, SHARDS).x.subarray(index * 784, (index + 1) * 784);
    const res = await fetch(`${coordinator.url}/v1/models/mnist/versions/2:predict`, {
      method: 'POST',
      body: JSON.stringify({ instances: [Array.from(example)] }),
    });
    const served = ((await res.json()) as { predictions: number[][] }).predictions[0];
    expect(Number(await out.getAttribute('data-predicted'))).toBe(served.indexOf(Math.max(...served)));
    inPage.forEach((p, k) => expect(p).toBeCloseTo(served[k], 4));
    await page.screenshot({ path: join(ARTIFACTS, 'client.png'), fullPage: true });
  });

  it('loads picked image files, labelled by their names', async () => {
    const { page } = await openPage('/client');
    const digit = (label: number) =>
      bmp(40, 40, (x, y) => (Math.abs(x - 20) < 3 && y > 8 && y < 32 ? 20 : 235 - label));
    await page.fill('#token', coordinator.joinToken);
    await page.check('input[name=source][value=images]');
    await page.setInputFiles('#image-files', [
      { name: '1_a.bmp', mimeType: 'image/bmp', buffer: digit(1) },
      { name: '7-b.bmp', mimeType: 'image/bmp', buffer: digit(7) },
      { name: '7.bmp', mimeType: 'image/bmp', buffer: digit(7) },
    ]);
    await page.click('#join');
    await page.locator('body[data-state=joined]').waitFor();
    await expect(page.locator('#data-summary').textContent()).resolves.toMatch(
      /^3 examples from 3 image file\(s\); per class: 0 \/ 1 \/ 0 \/ 0 \/ 0 \/ 0 \/ 0 \/ 2 \/ 0 \/ 0$/,
    );
    await page.fill('#predict-index', '0');
    await page.click('#predict');
    await page.locator('#prediction[data-version="2"]').waitFor();
    // The picked image, scaled to 28x28 and inverted (dark ink on light paper), is what the page holds.
    const pixels = await page.evaluate(() => {
      const c = document.getElementById('predict-image') as HTMLCanvasElement;
      const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      const at = (x: number, y: number) => d[(y * c.width + x) * 4];
      return { centre: at(56, 56), corner: at(2, 2) };
    });
    expect(pixels.centre).toBeGreaterThan(200);
    expect(pixels.corner).toBeLessThan(40);
  });

  it('loads a picked CSV file with the label column named on the form', async () => {
    const { page } = await openPage('/client');
    const header = ['digit', ...Array.from({ length: 784 }, (_, i) => `p${i}`)].join(',');
    const rows = [4, 9].map((label) => [label, ...Array.from({ length: 784 }, (_, i) => (i % 7) / 7)].join(','));
    await page.fill('#token', coordinator.joinToken);
    await page.check('input[name=source][value=csv]');
    await page.fill('#label-column', 'digit');
    await page.setInputFiles('#csv-file', {
      name: 'digits.csv',
      mimeType: 'text/csv',
      buffer: Buffer.from([header, ...rows].join('\n')),
    });
    await page.click('#join');
    await page.locator('body[data-state=joined]').waitFor();
    await expect(page.locator('#data-summary').textContent()).resolves.toBe(
      '2 examples from CSV file digits.csv; per class: 0 / 0 / 0 / 0 / 1 / 0 / 0 / 0 / 0 / 1',
    );
  });

  it('stops with the reason when the join token is wrong', async () => {
    const { page } = await openPage('/client?token=not-the-token&data=mnist:0/40&autostart=1');
    await page.locator('body[data-state=failed]').waitFor();
    await expect(page.locator('#connection').textContent()).resolves.toMatch(
      /coordinator refused to join: wrong join token/,
    );
  });

  it('refuses a name from another browser, which holds another identity', async () => {
    // A fresh context has empty localStorage: what the reloaded page would be without it.
    const { page } = await openPage(
      `/client?token=${encodeURIComponent(coordinator.joinToken)}&data=mnist:0/40&autostart=1&name=browser-0`,
    );
    await page.locator('body[data-state=failed]').waitFor();
    await expect(page.locator('#connection').textContent()).resolves.toMatch(
      /client name 'browser-0' is registered with another identity key/,
    );
  });
});
