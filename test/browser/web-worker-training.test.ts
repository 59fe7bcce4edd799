import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCoordinator, type RunningCoordinator } from '../../server/app.js';
import { parseCoordinatorConfig } from '../../server/config.js';
import { silentLogger } from '../../server/logger.js';
import { ensureWebBundle } from '../../server/web/bundle.js';
import { setupBackend } from '../../shared/engine/backend.js';
import { launchChromium } from './helpers.js';

/**
 * The browser client page training data-parallel on Web Workers (WebWorkerTrainer) in Debian's
 * chromium: one page is the round's only client, so version 1 of the global model is exactly the
 * weights the page trained, and runs on 1 and 2 workers can be compared weight by weight.
 */

let browser: Browser;
const cleanup: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  await Promise.all([ensureWebBundle(), setupBackend(undefined, { log: () => {}, argv: [], env: {} })]);
  browser = await launchChromium();
});

afterAll(async () => {
  for (const step of cleanup.reverse()) await step().catch(() => undefined);
  await browser?.close();
});

/** A coordinator whose first round starts as soon as one client joins: Adam, batches of 25 split 12 + 13. */
async function coordinatorForOneClient(): Promise<RunningCoordinator> {
  const dir = await mkdtemp(join(tmpdir(), 'fedserve-browser-workers-'));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  const coordinator = await startCoordinator(
    parseCoordinatorConfig(
      {
        port: 0,
        host: '127.0.0.1',
        dataDir: join(dir, 'data'),
        rounds: { start: 1, selectionWindowMs: 0, trainingTimeoutMs: 120_000 },
        strategy: { sampler: { minClients: 1, maxClients: 1 } },
        training: { epochs: 1, batchSize: 25, learningRate: 1e-3, optimizer: 'adam' },
      },
      'browser worker test',
    ),
    { logger: silentLogger() },
  );
  cleanup.push(() => coordinator.close());
  return coordinator;
}

async function openClient(
  coordinator: RunningCoordinator,
  query: string,
  prepare?: (context: BrowserContext) => Promise<unknown>,
): Promise<Page> {
  const context = await browser.newContext();
  cleanup.push(() => context.close());
  await prepare?.(context);
  const page = await context.newPage();
  await page.goto(
    `${coordinator.url}/client?token=${encodeURIComponent(coordinator.joinToken)}&data=mnist:0/40&backend=wasm&autostart=1${query}`,
  );
  return page;
}

async function weightsOf(coordinator: RunningCoordinator, version: number): Promise<Float32Array> {
  const res = await fetch(`${coordinator.url}/v1/models/mnist/versions/${version}/weights.bin`);
  expect(res.status).toBe(200);
  return new Float32Array(await res.arrayBuffer());
}

/** One round trained by one page; the threads it showed, its log, and the weights before and after. */
async function oneRound(
  query: string,
  prepare?: (context: BrowserContext) => Promise<unknown>,
): Promise<{ threads: number; shown: string; log: string; before: Float32Array; after: Float32Array }> {
  const coordinator = await coordinatorForOneClient();
  const page = await openClient(coordinator, query, prepare);
  await page.locator('#local-rounds tr[data-round="1"]').waitFor({ timeout: 110_000 });
  await expect(page.locator('#local-rounds tr[data-round="1"]').getAttribute('data-accepted')).resolves.toBe('true');
  await page.locator('#global-version[data-version="1"]').waitFor();
  const shownThreads = page.locator('#threads-used');
  const result = {
    threads: Number(await shownThreads.getAttribute('data-threads')),
    shown: (await shownThreads.textContent()) ?? '',
    log: (await page.locator('#log').textContent()) ?? '',
    before: await weightsOf(coordinator, 0),
    after: await weightsOf(coordinator, 1),
  };
  await page.context().close();
  return result;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a).toHaveLength(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('the browser client on Web Workers', () => {
  let oneThread: Awaited<ReturnType<typeof oneRound>>;

  it(
    'trains a round on 2 Web Workers to the weights of one thread, and shows 2 threads',
    { timeout: 240_000 },
    async () => {
      oneThread = await oneRound('&threads=1');
      expect(oneThread.threads).toBe(1);
      expect(oneThread.shown).toBe('1 (the page itself, as set)');

      const two = await oneRound('&threads=2');
      expect(two.threads).toBe(2);
      expect(two.shown).toBe('2 (Web Workers, each batch split 2 ways)');
      expect(two.log).toMatch(/training on 2 Web Workers \(data parallel\)/);
      expect(two.log).not.toMatch(/this thread only/);
      // Same starting model (the coordinator's seeded initialisation), trained: the same result.
      expect(maxAbsDiff(two.before, oneThread.before)).toBe(0);
      expect(maxAbsDiff(two.after, two.before)).toBeGreaterThan(1e-3);
      expect(maxAbsDiff(two.after, oneThread.after)).toBeLessThanOrEqual(1e-5);
    },
  );

  it(
    'falls back to the page thread when the page has no Web Workers, and shows why',
    { timeout: 180_000 },
    async () => {
      expect(oneThread, 'needs the one-thread run of the test above').toBeDefined();
      const run = await oneRound('&threads=2', (context) =>
        context.addInitScript(() => {
          delete (globalThis as { Worker?: unknown }).Worker;
        }),
      );
      expect(run.threads).toBe(1);
      expect(run.shown).toMatch(/^1 \(the page itself: asked for 2, but Web Workers are unavailable \(.*Worker.*\)\)$/);
      expect(run.log).toMatch(/training on this thread only: Web Workers are unavailable/);
      // The page's own thread runs exactly what the one-thread page ran.
      expect(maxAbsDiff(run.after, oneThread.after)).toBe(0);
    },
  );

  it('falls back when the worker script does not load, and defaults to the cores up to 4', async () => {
    const coordinator = await coordinatorForOneClient();
    const page = await openClient(coordinator, '&threads=2', (context) =>
      context.route('**/web/training-worker.js', (route) => route.fulfill({ status: 404, body: 'gone' })),
    );
    const shown = page.locator('#threads-used[data-threads]');
    await shown.waitFor();
    await expect(shown.getAttribute('data-threads')).resolves.toBe('1');
    await expect(shown.textContent()).resolves.toMatch(
      /^1 \(the page itself: asked for 2, but Web Workers are unavailable \(\/web\/training-worker\.js did not load as a module worker\)\)$/,
    );

    await page.goto(`${coordinator.url}/client`);
    const cores = await page.evaluate(() => navigator.hardwareConcurrency);
    expect(await page.inputValue('#threads')).toBe(String(Math.min(cores, 4)));
  });

  it('refuses a thread setting that is not a whole number in range, naming it', async () => {
    const coordinator = await coordinatorForOneClient();
    const page = await openClient(coordinator, '&threads=0');
    await page.locator('#log li', { hasText: 'training threads must be a whole number from 1 to 64' }).waitFor();
    await expect(page.locator('body').getAttribute('data-state')).resolves.toBe('idle');
  });
});
