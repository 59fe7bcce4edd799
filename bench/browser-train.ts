/**
 * `npm run bench:browser-train`: how fast the browser client page trains the seed CNN on 1 and 2 Web
 * Workers (and 4 where the machine has the cores), in Debian's chromium (FEDSERVE_CHROMIUM overrides).
 * Each setting gets its own coordinator on 127.0.0.1 and one page, the round's only client, training
 * ROUNDS rounds of one epoch; a row keeps the fastest round (the machine may be shared). The time is
 * the page's own measurement of local training (the round table's `data-train-ms`).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchChromium } from '../test/browser/helpers.js';
import { startCoordinator } from '../server/app.js';
import { parseCoordinatorConfig } from '../server/config.js';
import { silentLogger } from '../server/logger.js';
import { ensureWebBundle } from '../server/web/bundle.js';
import { setupBackend } from '../shared/engine/backend.js';

const SHARDS = 4;
/** 8,000 digits in 4 shards: 2,000 per page. */
const SAMPLES = 8000 / SHARDS;
const BATCH = 32;
const ROUNDS = 3;

const progress = (line: string) => process.stderr.write(`${line}\n`);

async function fastestRoundMs(browser: Awaited<ReturnType<typeof launchChromium>>, threads: number): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), 'fedserve-bench-browser-'));
  const coordinator = await startCoordinator(
    parseCoordinatorConfig(
      {
        port: 0,
        host: '127.0.0.1',
        dataDir: join(dir, 'data'),
        rounds: { start: ROUNDS, selectionWindowMs: 0, trainingTimeoutMs: 600_000 },
        strategy: { sampler: { minClients: 1, maxClients: 1 } },
        training: { epochs: 1, batchSize: BATCH, learningRate: 1e-3, optimizer: 'adam' },
      },
      'bench',
    ),
    { logger: silentLogger() },
  );
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    await page.goto(
      `${coordinator.url}/client?token=${encodeURIComponent(coordinator.joinToken)}&data=mnist:0/${SHARDS}&backend=wasm&autostart=1&threads=${threads}`,
    );
    await page.locator(`#local-rounds tr[data-round="${ROUNDS}"]`).waitFor({ timeout: 600_000 });
    const used = await page.locator('#threads-used').getAttribute('data-threads');
    if (used !== String(threads)) throw new Error(`asked the page for ${threads} threads, it used ${used}`);
    const times = await page
      .locator('#local-rounds tr')
      .evaluateAll((rows) => rows.map((r) => Number((r as HTMLElement).dataset.trainMs)));
    return Math.min(...times);
  } finally {
    await context.close();
    await coordinator.close();
    await rm(dir, { recursive: true, force: true });
  }
}

await Promise.all([ensureWebBundle(), setupBackend(undefined, { log: () => {}, argv: [], env: {} })]);
const loadAtStart = loadavg()[0];
const browser = await launchChromium();
const settings = [1, 2, ...(availableParallelism() >= 4 ? [4] : [])];
const rows: { threads: number; ms: number }[] = [];
try {
  for (const threads of settings) {
    progress(`page on ${threads} thread(s), ${ROUNDS} rounds of ${SAMPLES} digits...`);
    rows.push({ threads, ms: await fastestRoundMs(browser, threads) });
  }
} finally {
  await browser.close();
}

const rate = (ms: number) => SAMPLES / (ms / 1000);
const header = ['page threads', 'batch', 'samples', 'seconds', 'samples/s', 'speed-up'];
const body = rows.map((r) => [
  String(r.threads),
  String(BATCH),
  String(SAMPLES),
  (r.ms / 1000).toFixed(2),
  rate(r.ms).toFixed(1),
  `${(rows[0].ms / r.ms).toFixed(2)}x`,
]);
const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i])).join('  ');
console.log(line(header));
console.log(widths.map((w) => '-'.repeat(w)).join('  '));
for (const b of body) console.log(line(b));
console.log(`\nseed CNN, Adam, best of ${ROUNDS} rounds; load average at start ${loadAtStart.toFixed(2)}`);
console.log(`browser-train: ${rows.map((r) => `threads${r.threads}=${rate(r.ms).toFixed(0)}`).join(' ')}`);
