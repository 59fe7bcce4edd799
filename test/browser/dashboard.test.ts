import { EventEmitter } from 'node:events';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { Server } from 'socket.io';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelRegistry } from '../../server/serving/model-registry.js';
import { handleServing } from '../../server/serving/routes.js';
import { artifactFromModel } from '../../server/serving/served-model.js';
import { CheckpointStore } from '../../server/store/checkpoint-store.js';
import { createWebHandler } from '../../server/web/handler.js';
import { setupBackend } from '../../shared/engine/backend.js';
import { createSeedCnn } from '../../shared/model/seed-cnn.js';
import { attachLiveFeed, type RoundSource } from '../../server/web/live-feed.js';
import type { PrivacyStatus, RoundList, RoundRecord } from '../../shared/protocol/rounds.js';
import { launchChromium, watchOutgoing, type Outbox } from './helpers.js';
import { silentLogger } from '../../server/logger.js';

/**
 * The dashboard against a scripted coordinator: the public view (under differential privacy only
 * what the accountant covers), the admin view with every measure, per-client detail, federated
 * evaluation and failed rounds, a refused admin token, that it follows the feed live, and the
 * admin control's refusals.
 */

const ARTIFACTS = fileURLToPath(new URL('./__artifacts__/', import.meta.url));

function committed(round: number): RoundRecord {
  return {
    round,
    status: 'committed',
    baseVersion: round - 1,
    version: round,
    participants: ['alice', 'bob', 'carol'],
    dropped: [],
    contributions: ['alice', 'bob', 'carol'].map((clientId) => ({
      clientId,
      numExamples: 100,
      loss: 2 / round,
      accuracy: 0.2 * round,
      trainMs: 900,
    })),
    numExamples: 300,
    trainLoss: 2 / round,
    trainAccuracy: 0.18 * round,
    federatedEvaluation: {
      selected: ['alice', 'bob'],
      reported: ['alice', 'bob'],
      declined: [],
      missing: [],
      loss: 1.9 / round,
      accuracy: 0.2 * round,
      numExamples: 40,
      durationMs: 300,
    },
    privacy: {
      mode: 'distributed',
      epsilon: 0.5 * round,
      delta: 1e-5,
      targetEpsilon: 4,
      order: 12,
      samplingRate: 0.5,
      expectedContributors: 3,
      contributors: 3,
      clipNorm: 1,
      releasedNoiseMultiplier: 1.1,
      clientNoiseMultiplier: 1.1,
      coordinatorEpsilon: 0.9 * round,
    },
    secureAggregation: {
      k: 2,
      threshold: 2,
      clip: 0.5,
      maxWeight: 1,
      stage: 'unmask',
      stageMs: { 'advertise-keys': 20, 'share-keys': 30, 'masked-input': 1900, unmask: 40 },
      survivors: ['alice', 'bob', 'carol'],
      dropouts: [],
      errorBound: 2.4e-7 * round,
    },
    updateBytes: 1200,
    startedAt: new Date(Date.now() - 60_000).toISOString(),
    phaseMs: { selecting: 10, training: 2000, aggregating: 100 },
    durationMs: 2110,
  };
}

const failed: RoundRecord = {
  ...committed(3),
  status: 'failed',
  version: undefined,
  contributions: [],
  numExamples: 0,
  trainLoss: undefined,
  trainAccuracy: undefined,
  federatedEvaluation: undefined,
  privacy: undefined,
  secureAggregation: {
    ...committed(3).secureAggregation!,
    stage: 'masked-input',
    survivors: [],
    dropouts: [
      { clientId: 'bob', stage: 'share-keys' },
      { clientId: 'carol', stage: 'masked-input', reason: 'the roster changed the identity key of alice' },
    ],
    errorBound: undefined,
  },
  reason: 'only 1 update(s), 2 needed: 2 of 3 participants disconnected',
};

function privacyAfter(rounds: number): PrivacyStatus {
  return {
    mode: 'distributed',
    epsilon: 0.5 * rounds,
    delta: 1e-5,
    targetEpsilon: 4,
    coordinatorEpsilon: 0.9 * rounds,
    rounds,
    roundsRemaining: 8 - rounds,
    clipNorm: 1,
    audiences: {
      public: 0.5 * rounds,
      participationKnown: { typicalClient: 1.1 * rounds, everyRound: 2 * rounds },
      coordinator: 0.9 * rounds,
    },
  };
}

class ScriptedCoordinator extends EventEmitter<{ round: [RoundRecord]; changed: [] }> implements RoundSource {
  readonly task = { info: { name: 'mnist', inputShape: [28, 28, 1], numClasses: 10, parameterCount: 121_930 } };
  list: RoundList = {
    currentVersion: 2,
    pendingRounds: 2,
    rounds: [
      committed(1),
      committed(2),
      failed,
      { ...committed(4), status: 'training', stage: 'upload', version: undefined },
    ],
    privacy: privacyAfter(2),
  };
  rounds(): RoundList {
    return this.list;
  }
  connectedClients(): string[] {
    return ['alice', 'bob', 'carol'];
  }
  privacyStatus(): PrivacyStatus | undefined {
    return this.list.privacy;
  }
}

const rowsOf = (p: Page) =>
  p.locator('#rounds tr').evaluateAll((trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
const chartPoints = (p: Page) =>
  p.evaluate(() =>
    (window as unknown as { fedserveChart: { pointCounts(): Record<string, number> } }).fedserveChart.pointCounts(),
  );

let http: HttpServer;
let io: Server;
let browser: Browser;
let page: Page;
let base: string;
let outbox: Outbox;
const source = new ScriptedCoordinator();
const startRequests: { authorization: string | undefined; body: string }[] = [];

let registry: ModelRegistry;
let servingDir: string;

beforeAll(async () => {
  // The playground explains with real served versions (the seed CNN with two seeds).
  await setupBackend(undefined, { log: () => {}, argv: [], env: {} });
  servingDir = await mkdtemp(join(tmpdir(), 'fedserve-dashboard-serving-'));
  const store = new CheckpointStore(servingDir, { logger: silentLogger() });
  registry = new ModelRegistry(store, { capacity: 2 });
  for (const version of [1, 2]) {
    const model = createSeedCnn(version);
    const cp = { ...artifactFromModel(model), version, round: version, metadata: {} };
    model.dispose();
    await store.save(cp);
    await registry.publish(version, cp);
  }
  const web = createWebHandler();
  http = createServer((req, res) => {
    if (req.url === '/v1/rounds' && req.method === 'POST') {
      // Stands in for the REST API: refuses every token but 'right-token'.
      let body = '';
      req
        .on('data', (c: Buffer) => (body += c.toString()))
        .on('end', () => {
          startRequests.push({ authorization: req.headers.authorization, body });
          const ok = req.headers.authorization === 'Bearer right-token';
          res.writeHead(ok ? 202 : 403, { 'content-type': 'application/json' });
          res.end(JSON.stringify(ok ? { queued: 1, firstRound: 5, pendingRounds: 3 } : { error: 'wrong admin token' }));
        });
      return;
    }
    void handleServing(req, res, { registry, logger: silentLogger() })
      .then((served) => served || web(req, res))
      .then((handled) => {
        if (!handled) res.writeHead(404).end();
      });
  });
  io = new Server(http);
  attachLiveFeed(io, source, { adminToken: 'right-token', intervalMs: 20 });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  browser = await launchChromium();
  page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  outbox = watchOutgoing(page);
  await page.goto(`${base}/`);
  await page.locator('#feed-state', { hasText: 'live' }).waitFor();
});

afterAll(async () => {
  await rm(servingDir, { recursive: true, force: true });
  await browser?.close();
  await new Promise<void>((resolve) => {
    if (io) void io.close(() => resolve());
    else resolve();
  });
});

describe('dashboard', () => {
  it('by default shows only what differential privacy covers: no client, no count, no client metric', async () => {
    await expect(page.locator('#access').textContent()).resolves.toBe('public view: aggregates only');
    await expect(page.locator('#privacy').textContent()).resolves.toBe(
      'ε = 1.000 of 4 at δ = 0.00001 (distributed, 2 round(s)); against the coordinator ε = 1.800; 6 more round(s) fit the budget',
    );
    await expect(page.locator('#detail-head').isVisible()).resolves.toBe(false);
    expect(await rowsOf(page)).toEqual([
      ['3', 'failed', '-', '-', '-', '-', '-', 'on', '-', ''],
      ['2', 'committed', '-', '-', '-', '-', '1.000', 'on', '-', 'v2 · weights'],
      ['1', 'committed', '-', '-', '-', '-', '0.500', 'on', '-', 'v1 · weights'],
    ]);
    expect(await chartPoints(page)).toEqual({});
    await expect(page.locator('#clients').textContent()).resolves.toBe('not published (differential privacy)');
    await expect(page.locator('#participants').textContent()).resolves.toBe('-');
    await expect(page.locator('#phase').textContent()).resolves.toBe('training (upload)');
    const text = await page.locator('body').innerText();
    for (const id of ['alice', 'bob', 'carol']) expect(text).not.toContain(id);
  });

  it('with the admin token shows every measure, the per-client detail and the secure aggregation of each round, marked outside the DP guarantee', async () => {
    await page.fill('#view-token', 'right-token');
    await page.click('#show-admin');
    await page.locator('#access', { hasText: 'admin view: per-client detail shown' }).waitFor();
    expect(await page.evaluate(() => location.href)).toBe(`${base}/`);
    await expect(page.locator('#outside-dp').isVisible()).resolves.toBe(true);
    await expect(page.locator('#epsilon-head').isVisible()).resolves.toBe(true);
    await expect(page.locator('#secagg-head').isVisible()).resolves.toBe(true);
    await expect(page.locator('#detail-head').isVisible()).resolves.toBe(true);
    const detail = (round: number) =>
      `alice: 100 ex, loss ${(2 / round).toFixed(4)}, ${(20 * round).toFixed(1)}%, 0.9 s; bob: 100 ex, loss ${(2 / round).toFixed(4)}, ${(20 * round).toFixed(1)}%, 0.9 s; carol: 100 ex, loss ${(2 / round).toFixed(4)}, ${(20 * round).toFixed(1)}%, 0.9 s`;
    expect(await rowsOf(page)).toEqual([
      [
        '3',
        'failed: only 1 update(s), 2 needed: 2 of 3 participants disconnected',
        '0/3',
        '0',
        '-',
        '-',
        '-',
        'k=2, t=2; stopped at masked-input, 2 dropped (bob at share-keys, carol at masked-input)',
        '2.1 s',
        '',
        '',
      ],
      [
        '2',
        'committed',
        '3/3',
        '300',
        '40.0%',
        '0.9500',
        '1.000',
        'k=2, t=2; 3 survived, 0 dropped; error ≤ 4.8e-7',
        '2.1 s',
        'v2 · weights',
        detail(2),
      ],
      [
        '1',
        'committed',
        '3/3',
        '300',
        '20.0%',
        '1.9000',
        '0.500',
        'k=2, t=2; 3 survived, 0 dropped; error ≤ 2.4e-7',
        '2.1 s',
        'v1 · weights',
        detail(1),
      ],
    ]);
    // A dropout's reason, when it gave one, is on the cell's tooltip.
    await expect(page.locator('#rounds tr[data-round="3"] td').nth(7).getAttribute('title')).resolves.toBe(
      'carol: the roster changed the identity key of alice',
    );
    expect(await chartPoints(page)).toEqual({
      'federated accuracy': 2,
      'client accuracy': 2,
      'federated loss': 2,
      'client loss': 2,
    });
    await expect(page.locator('#phase').textContent()).resolves.toBe('training (upload)');
    await expect(page.locator('#participants').textContent()).resolves.toBe('alice, bob, carol');
    await expect(page.locator('#clients').textContent()).resolves.toBe('3: alice, bob, carol');
    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-privacy.png'), fullPage: true });

    // The token went in the feed's handshake frame, never in a URL.
    const urls = [page.url(), ...outbox.requests.map((r) => r.url), ...outbox.frames.map((f) => f.url)];
    expect(urls.filter((u) => u.includes('right-token'))).toEqual([]);
    expect(outbox.frames.some((f) => f.payload.toString('utf8').includes('"adminToken":"right-token"'))).toBe(true);

    // Back to the public view: the token is forgotten.
    await page.click('#show-public');
    await page.locator('#access', { hasText: 'public view' }).waitFor();
    await expect(page.evaluate(() => sessionStorage.length)).resolves.toBe(0);
    await expect(page.locator('#participants').textContent()).resolves.toBe('-');
  });

  it('refuses a wrong admin token, forgets it and stays public', async () => {
    await page.fill('#view-token', 'wrong-token');
    await page.click('#show-admin');
    await page
      .locator('#access', { hasText: 'public view: aggregates only (admin token refused: wrong admin token)' })
      .waitFor();
    await page.locator('#feed-state', { hasText: 'live' }).waitFor();
    await expect(page.evaluate(() => sessionStorage.length)).resolves.toBe(0);
    await expect(page.locator('#detail-head').isVisible()).resolves.toBe(false);
    const text = await page.locator('body').innerText();
    for (const id of ['alice', 'bob', 'carol']) expect(text).not.toContain(id);
  });

  it('follows rounds as they close, without a reload', async () => {
    const round4 = committed(4);
    source.list = {
      currentVersion: 4,
      pendingRounds: 1,
      rounds: [committed(1), committed(2), failed, round4],
      privacy: privacyAfter(3),
    };
    source.emit('round', round4);
    await page.locator('#rounds tr[data-round="4"][data-status=committed]').waitFor();
    await expect(page.locator('#version').textContent()).resolves.toBe('4');
    await expect(page.locator('#privacy').getAttribute('data-epsilon')).resolves.toBe('1.5');
    await expect(page.locator('#phase').textContent()).resolves.toBe('committed; no round running');
  });

  it('without differential privacy shows the aggregates publicly, still naming no client', async () => {
    const plain = (r: RoundRecord): RoundRecord => ({ ...r, privacy: undefined });
    source.list = { currentVersion: 2, pendingRounds: 0, rounds: [plain(committed(1)), plain(committed(2)), failed] };
    await page.reload();
    await page.locator('#feed-state', { hasText: 'live' }).waitFor();
    await expect(page.locator('#access').textContent()).resolves.toBe('public view: aggregates only');
    expect(await rowsOf(page)).toEqual([
      [
        '3',
        'failed: only 1 update(s), 2 needed: 2 of 3 participants disconnected',
        '0/3',
        '0',
        '-',
        '-',
        'k=2, t=2; stopped at masked-input, 2 dropped',
        '2.1 s',
        '',
      ],
      [
        '2',
        'committed',
        '3/3',
        '300',
        '40.0%',
        '0.9500',
        'k=2, t=2; 3 survived, 0 dropped; error ≤ 4.8e-7',
        '2.1 s',
        'v2 · weights',
      ],
      [
        '1',
        'committed',
        '3/3',
        '300',
        '20.0%',
        '1.9000',
        'k=2, t=2; 3 survived, 0 dropped; error ≤ 2.4e-7',
        '2.1 s',
        'v1 · weights',
      ],
    ]);
    expect(await chartPoints(page)).toEqual({
      'federated accuracy': 2,
      'client accuracy': 2,
      'federated loss': 2,
      'client loss': 2,
    });
    await expect(page.locator('#clients').textContent()).resolves.toBe('3');
    await expect(page.locator('#participants').textContent()).resolves.toBe('3');
    const text = await page.locator('body').innerText();
    for (const id of ['alice', 'bob', 'carol']) expect(text).not.toContain(id);
  });

  it('asks for the admin token, forgets a refused one, and keeps an accepted one for the tab', async () => {
    await page.click('#start');
    await page.fill('#admin-token', 'wrong-token');
    await page.click('#token-ok');
    await page.locator('#start-result', { hasText: 'refused (HTTP 403): wrong admin token' }).waitFor();

    await page.click('#start');
    await expect(page.locator('#token-dialog').isVisible()).resolves.toBe(true);
    await page.fill('#admin-token', 'right-token');
    await page.click('#token-ok');
    await page.locator('#start-result', { hasText: 'queued 1 round(s), starting with round 5' }).waitFor();

    await page.click('#start');
    await page.locator('#start-result', { hasText: 'queued 1 round(s)' }).waitFor();
    await expect(page.locator('#token-dialog').isVisible()).resolves.toBe(false);
    expect(startRequests.map((r) => r.authorization)).toEqual([
      'Bearer wrong-token',
      'Bearer right-token',
      'Bearer right-token',
    ]);
    expect(startRequests.every((r) => JSON.parse(r.body).rounds === 1)).toBe(true);
  });
  it("shows the newest confusion matrix as a heatmap and each class's accuracy over rounds", async () => {
    // Round r's model gets true class t right r * 10 + t times of 50, the rest called class (t + 1) % 3.
    const confusion = (r: number) =>
      [0, 1, 2].map((t) => [0, 1, 2].map((p) => (p === t ? r * 10 + t : p === (t + 1) % 3 ? 50 - r * 10 - t : 0)));
    const evaluated = (r: number): RoundRecord => {
      const m = confusion(r);
      const perClass = m.map((row, c) => {
        const predicted = m.reduce((s, x) => s + x[c], 0);
        const recall = row[c] / 50;
        const precision = row[c] / predicted;
        return { precision, recall, f1: (2 * precision * recall) / (precision + recall), support: 50 };
      });
      return {
        ...committed(r),
        privacy: undefined,
        evaluation: { loss: 1 / r, accuracy: (r * 30 + 3) / 150, numExamples: 150, confusion: m, perClass },
      };
    };
    source.list = { currentVersion: 2, pendingRounds: 0, rounds: [evaluated(1), evaluated(2), failed] };
    await page.reload();
    await page.locator('#feed-state', { hasText: 'live' }).waitFor();
    await page.locator('#confusion[data-classes="3"]').waitFor();
    await expect(page.locator('#confusion-caption').textContent()).resolves.toBe(
      'version 2 (round 2): rows = true class, columns = predicted',
    );
    const cells = await page
      .locator('#confusion tr')
      .evaluateAll((trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
    expect(cells).toEqual([
      ['true \\ predicted', '0', '1', '2', 'recall'],
      ['0', '20', '30', '0', '40.0%'],
      ['1', '0', '21', '29', '42.0%'],
      ['2', '28', '0', '22', '44.0%'],
    ]);
    // Darker cells for larger shares of the true class.
    const shade = (r: number, c: number) =>
      page
        .locator(`#confusion tr:nth-child(${r + 2}) td:nth-of-type(${c + 1})`)
        .evaluate((td) => getComputedStyle(td).backgroundColor);
    await expect(shade(0, 1)).resolves.toBe('rgba(37, 99, 235, 0.6)');
    await expect(shade(0, 2)).resolves.toBe('rgba(37, 99, 235, 0)');
    const perClass = await page
      .locator('#class-accuracy tr')
      .evaluateAll((trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
    expect(perClass).toEqual([
      ['round', 'class 0', 'class 1', 'class 2'],
      ['2', '40.0%', '42.0%', '44.0%'],
      ['1', '20.0%', '22.0%', '24.0%'],
    ]);
    await mkdir(ARTIFACTS, { recursive: true });
    await page.locator('#confusion').scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-per-class.png'), fullPage: true });
  });
  it('playground: a drawn digit is explained by the chosen version, probabilities and attribution overlay shown', async () => {
    await expect(page.locator('#pg-version option').allTextContents()).resolves.toEqual(['current', 'v2', 'v1']);
    await page.locator('#pg-pad').scrollIntoViewIfNeeded();
    const box = (await page.locator('#pg-pad').boundingBox())!;
    // A "7": a bar across the top and a stroke down to the bottom left.
    await page.mouse.move(box.x + 70, box.y + 60);
    await page.mouse.down();
    await page.mouse.move(box.x + 210, box.y + 60, { steps: 10 });
    await page.mouse.move(box.x + 120, box.y + 230, { steps: 10 });
    await page.mouse.up();
    await page.selectOption('#pg-version', '1');
    const sent = page.waitForRequest((r) => r.url().endsWith('/v1/models/mnist/versions/1:explain'));
    await page.click('#pg-explain');
    const body = JSON.parse((await sent).postData()!) as { instances: number[][] };
    expect(body.instances[0]).toHaveLength(784);
    expect(Math.max(...body.instances[0])).toBeGreaterThan(0.5);
    await page.locator('#pg-probs[data-version="1"]').waitFor();
    // The page shows what version 1 predicts for the pixels it sent.
    const answer = await fetch(`${base}/v1/models/mnist/versions/1:predict`, {
      method: 'POST',
      body: JSON.stringify({ instances: body.instances }),
    });
    const predicted = (await answer.json()) as { predictions: number[][] };
    expect(answer.status, JSON.stringify(predicted)).toBe(200);
    const p = predicted.predictions[0];
    const top = p.indexOf(Math.max(...p));
    await expect(page.locator('#pg-probs').getAttribute('data-top')).resolves.toBe(String(top));
    await expect(page.locator('#pg-probs .prob').count()).resolves.toBe(10);
    await expect(page.locator('#pg-probs .prob.top').textContent()).resolves.toBe(
      `${top}${(p[top] * 100).toFixed(1)}%`,
    );
    expect(Number(await page.locator('#pg-overlay').getAttribute('data-max-attribution'))).toBeGreaterThan(0);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-playground.png'), fullPage: true });
  });
});
