import { io, type Socket } from 'socket.io-client';
import { describe, expect, it } from 'vitest';
import { loadDataSpecSync } from '../../shared/data/data-spec.node.js';
import { NodeClient } from '../../client/node-client.js';
import {
  AdminRoundListSchema,
  OUTSIDE_DP_GUARANTEE,
  PublicRoundListSchema,
} from '../../shared/protocol/public-rounds.js';
import type { RoundRecord } from '../../shared/protocol/rounds.js';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { RunningCoordinator } from '../../server/app.js';
import { FEED_EVENTS, FEED_NAMESPACE } from '../../shared/feed/feed-messages.js';
import {
  ADMIN_TOKEN,
  collectingProgress,
  JOIN_TOKEN,
  nextRounds,
  startTestCoordinator,
  tempDir,
  coordinatorSuite,
} from './helpers.js';

/**
 * What a coordinator with real clients over socket.io publishes without the admin token, on both
 * surfaces (`GET /v1/rounds` and the `/live` feed): aggregates only, and with differential privacy
 * on only what the accountant covers. Each client's id, example count, loss and accuracy are
 * looked for in every public message; the admin token sees them.
 */

const cleanup = coordinatorSuite();

/** Distinct shard sizes, so each client's example count is its own; two hold a held-out split. */
const CLIENTS = [
  { name: 'pubsurf-alice', data: 'mnist:0/40', evalData: 'mnist:50/80' },
  { name: 'pubsurf-bob', data: 'mnist:1/25', evalData: 'mnist:61/160' },
  { name: 'pubsurf-carol', data: 'mnist:3/32' },
];

async function federation(
  overrides: Parameters<typeof startTestCoordinator>[1],
  clients = CLIENTS,
): Promise<RunningCoordinator & { logs: string[]; dataDir: string }> {
  const dir = await tempDir();
  const server = Object.assign(await startTestCoordinator(dir.path, overrides), { dataDir: dir.path });
  cleanup.push(dir.remove, () => server.close());
  for (const c of clients) {
    const client = new NodeClient({
      server: server.url,
      token: JOIN_TOKEN,
      name: c.name,
      data: loadDataSpecSync(c.data),
      ...(c.evalData ? { evalData: loadDataSpecSync(c.evalData) } : {}),
      progress: collectingProgress([]),
    });
    const done = client.run();
    done.catch(() => undefined);
    cleanup.push(async () => {
      client.stop();
      await done.catch(() => undefined);
    });
  }
  return server;
}

/** A /live page: every message it received, in order. */
function feed(
  url: string,
  auth: Record<string, unknown> = {},
): { socket: Socket; messages: { event: string; body: unknown }[] } {
  const socket = io(`${url}${FEED_NAMESPACE}`, {
    auth,
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
  });
  cleanup.push(async () => {
    socket.disconnect();
  });
  const messages: { event: string; body: unknown }[] = [];
  for (const event of Object.values(FEED_EVENTS)) socket.on(event, (body: unknown) => messages.push({ event, body }));
  return { socket, messages };
}

function connected(socket: Socket): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once(FEED_EVENTS.snapshot, () => resolve());
    socket.once('connect_error', reject);
  });
}

function refusal(socket: Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    socket.once('connect_error', (e) => resolve(e.message));
    socket.once(FEED_EVENTS.snapshot, () => reject(new Error('the feed accepted the connection')));
  });
}

async function getRounds(url: string, authorization?: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${url}/v1/rounds`, authorization === undefined ? {} : { headers: { authorization } });
  return { status: res.status, body: await res.json() };
}

/** Every number in a JSON value, leaving out wall-clock timings (a duration may equal a count by chance). */
function numbersIn(value: unknown, key = ''): number[] {
  if (/Ms$|At$/.test(key)) return [];
  if (typeof value === 'number') return [value];
  if (Array.isArray(value)) return value.flatMap((v) => numbersIn(v));
  if (value && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => numbersIn(v, k));
  return [];
}

/** Each client's id and exact numbers, from the coordinator's own record. */
function perClient(record: RoundRecord): { ids: string[]; numbers: number[] } {
  const numbers = record.contributions.flatMap((c) =>
    [c.numExamples, c.loss, c.accuracy].filter((n): n is number => n !== undefined),
  );
  return { ids: record.participants, numbers };
}

/**
 * A text surface (log lines, Prometheus text) names no client and holds none of its numbers: every
 * numeric token is compared, and the percentages the log prints metrics as.
 */
function expectNothingPerClientInText(what: string, text: string, secrets: { ids: string[]; numbers: number[] }): void {
  for (const id of secrets.ids) expect(text.includes(id), `${what} names ${id}`).toBe(false);
  // Dotted addresses (127.0.0.1) are not numbers.
  const tokens = new Set(
    (text.replace(/\d+(?:\.\d+){2,}/g, ' ').match(/-?\d+(?:\.\d+)?(?:e[-+]?\d+)?/g) ?? []).map(Number),
  );
  for (const n of secrets.numbers) {
    expect(tokens.has(n), `${what} holds a client's value ${n}`).toBe(false);
    if (n > 0 && n < 1)
      expect(text.includes(`${(n * 100).toFixed(1)}%`), `${what} prints a client's value ${n} as a percentage`).toBe(
        false,
      );
  }
}

function expectNothingPerClient(what: string, value: unknown, secrets: { ids: string[]; numbers: number[] }): void {
  const json = JSON.stringify(value);
  for (const id of secrets.ids) expect(json.includes(id), `${what} names ${id}`).toBe(false);
  const numbers = new Set(numbersIn(value));
  for (const n of secrets.numbers) expect(numbers.has(n), `${what} holds a client's value ${n}`).toBe(false);
}

describe('public surfaces of a live federation', () => {
  it('without differential privacy: aggregates only without the admin token, everything with it', async () => {
    const server = await federation({
      rounds: { selectionWindowMs: 0, trainingTimeoutMs: 60_000, evaluationTimeoutMs: 60_000 },
      strategy: { sampler: { minClients: 3 }, evaluation: { fraction: 1, minClients: 2 } },
    });
    const pub = feed(server.url);
    const admin = feed(server.url, { adminToken: ADMIN_TOKEN });
    await Promise.all([connected(pub.socket), connected(admin.socket)]);
    const round = nextRounds(server, 1);
    server.coordinator.startRounds(1);
    const [record] = await round;
    expect(record.status, record.reason).toBe('committed');
    // Wait for the coalesced status after the round closed.
    await new Promise((resolve) => setTimeout(resolve, 400));

    const secrets = perClient(record);
    expect(secrets.ids.sort()).toEqual(CLIENTS.map((c) => c.name).sort());
    expect(secrets.numbers).toHaveLength(9);
    expect(new Set(record.contributions.map((c) => c.numExamples)).size).toBe(3);
    expect(record.federatedEvaluation?.reported.sort()).toEqual(['pubsurf-alice', 'pubsurf-bob']);

    const listed = await getRounds(server.url);
    expect(listed.status).toBe(200);
    const publicList = PublicRoundListSchema.parse(listed.body);
    expectNothingPerClient('public GET /v1/rounds', listed.body, secrets);
    expect(publicList.rounds[0]).toMatchObject({
      view: 'aggregates',
      participants: 3,
      contributors: 3,
      dropped: 0,
      numExamples: record.numExamples,
      trainLoss: record.trainLoss,
      federatedEvaluation: { selected: 2, reported: 2, numExamples: record.federatedEvaluation!.numExamples },
    });
    expect(pub.messages.map((m) => m.event)).toContain(FEED_EVENTS.round);
    for (const m of pub.messages) expectNothingPerClient(`public /live '${m.event}'`, m.body, secrets);

    const adminListed = await getRounds(server.url, `Bearer ${ADMIN_TOKEN}`);
    const adminList = AdminRoundListSchema.parse(adminListed.body);
    expect(adminList.rounds[0]).toEqual(record);
    expect(adminList).not.toHaveProperty('outsideDpGuarantee');
    expect(await (await fetch(`${server.url}/v1/health`)).json()).toMatchObject({ status: 'ok', connectedClients: 3 });
    const adminRound = admin.messages.find((m) => m.event === FEED_EVENTS.round);
    expect(adminRound?.body).toEqual({ access: 'admin', record });
    const adminJson = JSON.stringify(admin.messages);
    for (const id of secrets.ids) expect(adminJson).toContain(id);

    // A credential that is offered but wrong is refused, on both surfaces, and reveals nothing.
    for (const wrong of [
      `Bearer ${ADMIN_TOKEN.slice(0, -1)}`,
      'Bearer wrong',
      `Bearer ${ADMIN_TOKEN}x`,
      'Bearer',
      '',
      `Basic ${ADMIN_TOKEN}`,
    ]) {
      const refused = await getRounds(server.url, wrong);
      expect([401, 403], wrong).toContain(refused.status);
      expect(refused.body).toEqual({ error: expect.any(String) });
      expectNothingPerClient(`GET /v1/rounds with '${wrong}'`, refused.body, secrets);
    }
    for (const adminToken of [ADMIN_TOKEN.slice(0, -1), 'wrong', '', `${ADMIN_TOKEN} `]) {
      const attempt = feed(server.url, { adminToken });
      await expect(refusal(attempt.socket)).resolves.toBe('wrong admin token');
      expect(attempt.messages).toEqual([]);
    }
  });

  it('with differential privacy on: no client, count, sum or client metric without the admin token; the admin view is marked', async () => {
    const server = await federation(
      {
        rounds: { selectionWindowMs: 0, trainingTimeoutMs: 60_000, evaluationTimeoutMs: 60_000 },
        strategy: { sampler: { minClients: 2 }, evaluation: { fraction: 1, minClients: 2 } },
        privacy: { mode: 'central', noiseMultiplier: 1, clipNorm: 1, delta: 1e-5, targetEpsilon: 10 },
      },
      CLIENTS.slice(0, 2),
    );
    const pub = feed(server.url);
    const admin = feed(server.url, { adminToken: ADMIN_TOKEN });
    await Promise.all([connected(pub.socket), connected(admin.socket)]);
    const round = nextRounds(server, 1);
    server.coordinator.startRounds(1);
    const [record] = await round;
    expect(record.status, record.reason).toBe('committed');
    await new Promise((resolve) => setTimeout(resolve, 400));

    const fe = record.federatedEvaluation!;
    const secrets = perClient(record);
    // The exact aggregates the accountant does not cover are secret here too.
    secrets.numbers.push(
      record.numExamples,
      record.trainLoss!,
      record.trainAccuracy!,
      fe.numExamples,
      fe.loss!,
      fe.accuracy!,
      record.updateBytes,
    );

    const listed = await getRounds(server.url);
    const publicList = PublicRoundListSchema.parse(listed.body);
    expectNothingPerClient('public GET /v1/rounds', listed.body, secrets);
    expect(publicList.rounds[0]).toEqual({
      view: 'dp',
      round: 1,
      status: 'committed',
      baseVersion: 0,
      version: 1,
      privacy: expect.objectContaining({
        mode: 'central',
        epsilon: record.privacy!.epsilon,
        releasedNoiseMultiplier: 1,
      }),
      secureAggregation: false,
    });
    expect(publicList.privacy?.epsilon).toBe(record.privacy!.epsilon);
    expect(pub.messages.map((m) => m.event)).toContain(FEED_EVENTS.round);
    for (const m of pub.messages) {
      expectNothingPerClient(`public /live '${m.event}'`, m.body, secrets);
      expect(m.body, `public /live '${m.event}' counts clients`).not.toHaveProperty('connectedClients');
    }

    const adminList = AdminRoundListSchema.parse((await getRounds(server.url, `Bearer ${ADMIN_TOKEN}`)).body);
    expect(adminList.rounds[0]).toEqual(record);
    expect(adminList.outsideDpGuarantee).toEqual([...OUTSIDE_DP_GUARANTEE]);
    const adminSnapshot = admin.messages.find((m) => m.event === FEED_EVENTS.snapshot)?.body;
    expect(adminSnapshot).toMatchObject({ access: 'admin', outsideDpGuarantee: [...OUTSIDE_DP_GUARANTEE] });

    // GET /v1/health publishes the population only without differential privacy, or to the admin token.
    const health = async (headers: Record<string, string> = {}) =>
      (await fetch(`${server.url}/v1/health`, { headers })).json();
    expect(await health()).not.toHaveProperty('connectedClients');
    expect(await health({ authorization: `Bearer ${ADMIN_TOKEN}` })).toMatchObject({ connectedClients: 2 });

    // /metrics without the admin token: rounds, versions and the privacy account only.
    const metrics = async (headers: Record<string, string> = {}) =>
      (await fetch(`${server.url}/metrics`, { headers })).text();
    const publicMetrics = await metrics();
    expectNothingPerClientInText('public /metrics', publicMetrics, secrets);
    for (const series of [
      'fedserve_connected_clients',
      'fedserve_updates_total',
      'fedserve_update_bytes_total',
      'fedserve_federated_evaluation_accuracy',
      'fedserve_federated_evaluation_class_accuracy',
    ]) {
      expect(publicMetrics, `public /metrics has ${series}`).not.toContain(series);
    }
    expect(publicMetrics).toContain(`fedserve_privacy_epsilon ${record.privacy!.epsilon}`);
    expect(publicMetrics).toMatch(/fedserve_privacy_epsilon_participation_known\{client="typical"\} \d/);
    // The admin token sees the operational series, marked outside the guarantee.
    expect(await metrics({ authorization: `Bearer ${ADMIN_TOKEN}` })).toMatch(
      /# HELP fedserve_federated_evaluation_accuracy .*Outside the differential-privacy guarantee[^\n]*\n# TYPE fedserve_federated_evaluation_accuracy gauge\nfedserve_federated_evaluation_accuracy /,
    );

    // The coordinator's log lines, its round log and checkpoint metadata: only what the accountant covers.
    await server.close();
    // Who connects is the population, not who was drawn: the connection lines name clients, nothing else may.
    const connections = /^client [\w.@:-]+ (joined|left) \(\d+ connected\)$/;
    expect(server.logs.filter((l) => connections.test(l)).length).toBeGreaterThan(0);
    expectNothingPerClientInText(
      'the coordinator log',
      server.logs.filter((l) => !connections.test(l)).join('\n'),
      secrets,
    );
    const roundLog = (await readFile(join(server.dataDir, 'rounds.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as unknown);
    expect(roundLog).toHaveLength(1);
    expectNothingPerClient('rounds.jsonl', roundLog, secrets);
    const versions = await readdir(join(server.dataDir, 'versions'));
    expect(versions.sort()).toEqual(['0', '1']);
    for (const v of versions) {
      const metadata = JSON.parse(await readFile(join(server.dataDir, 'versions', v, 'round.json'), 'utf8')) as unknown;
      expectNothingPerClient(`checkpoint ${v} round.json`, metadata, secrets);
    }
    // What they keep: the round, its version and its privacy charge.
    expect(roundLog[0]).toMatchObject({
      round: 1,
      status: 'committed',
      version: 1,
      participants: [],
      contributions: [],
      privacy: { epsilon: record.privacy!.epsilon },
    });
  });
});
