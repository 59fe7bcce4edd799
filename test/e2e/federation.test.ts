import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { io, type Socket } from 'socket.io-client';
import { describe, expect, it } from 'vitest';
import { FatalClientError } from '../../client/node-client.js';
import { decodeEnvelope } from '../../shared/protocol/envelope.js';
import { PROTOCOL_VERSION, type Ack } from '../../shared/protocol/messages.js';
import { EVENTS } from '../../shared/protocol/events.js';
import { encodeWeights } from '../../shared/protocol/weights-codec.js';
import type { RunningCoordinator } from '../../server/app.js';
import {
  ADMIN_TOKEN,
  coordinatorSuite,
  JOIN_TOKEN,
  killChild,
  nextRounds,
  spawnFedserve,
  startClient,
  startTestCoordinator,
  tempDir,
  type TestClient,
} from './helpers.js';

/**
 * Real federations over socket.io on 127.0.0.1 with real MNIST digits: a few hundred digits per
 * client and one local epoch per round keep each round to a second or two.
 */

const cleanup = coordinatorSuite();

async function coordinator(
  overrides: Parameters<typeof startTestCoordinator>[1],
): Promise<RunningCoordinator & { logs: string[] }> {
  const dir = await tempDir();
  const running = await startTestCoordinator(dir.path, overrides);
  cleanup.push(dir.remove, () => running.close());
  return running;
}

function client(url: string, spec: string, name: string, token?: string): TestClient {
  const c = startClient(url, spec, name, token);
  cleanup.push(async () => {
    c.client.stop();
    await c.done.catch(() => undefined);
  });
  return c;
}

/** A bare socket.io connection speaking the protocol by hand. */
function rawSocket(url: string, auth: Record<string, unknown>): Socket {
  const socket = io(url, { auth, transports: ['websocket'], reconnection: false, forceNew: true });
  cleanup.push(async () => {
    socket.disconnect();
  });
  return socket;
}

function connected(socket: Socket): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', reject);
  });
}

async function weightsOf(url: string, version: number): Promise<Float32Array> {
  const res = await fetch(`${url}/v1/models/mnist/versions/${version}/weights.bin`);
  expect(res.status).toBe(200);
  return new Float32Array(await res.arrayBuffer());
}

describe('federation over socket.io', () => {
  it('3 clients complete 3 rounds and held-out accuracy rises', async () => {
    const server = await coordinator({
      eval: 'mnist:test',
      rounds: { start: 3, selectionWindowMs: 0, trainingTimeoutMs: 60_000 },
      strategy: { sampler: { minClients: 3, maxClients: 3 } },
    });
    const rounds = nextRounds(server, 3);
    for (let i = 0; i < 3; i++) client(server.url, `mnist:${i}/24`, `c${i}`);
    const records = await rounds;
    expect(records.map((r) => [r.round, r.status, r.version, r.contributions.length])).toEqual([
      [1, 'committed', 1, 3],
      [2, 'committed', 2, 3],
      [3, 'committed', 3, 3],
    ]);
    // Shards 0..2 of 24 are the first floor(3 * 8000 / 24) = 1000 training digits.
    for (const r of records) expect(r.numExamples).toBe(1000);
    const accuracy = records.map((r) => r.evaluation!.accuracy);
    expect(accuracy[2]).toBeGreaterThan(accuracy[0]);
    // Chance is 10%: the federation learned.
    expect(accuracy[2]).toBeGreaterThan(0.3);
    const listed = await (await fetch(`${server.url}/v1/rounds`)).json();
    expect(listed.rounds.map((r: { status: string }) => r.status)).toEqual(['committed', 'committed', 'committed']);
  });

  it('a client killed mid-round does not stall the round', async () => {
    const server = await coordinator({
      rounds: { start: 1, selectionWindowMs: 0, trainingTimeoutMs: 600_000, minResults: 2 },
      strategy: { sampler: { minClients: 3, maxClients: 3 } },
    });
    const round = nextRounds(server, 1);
    client(server.url, 'mnist:1/24', 'steady-1');
    client(server.url, 'mnist:2/24', 'steady-2');
    // The victim trains on 2,000 digits, so it is still training when it is killed.
    const victim = spawnFedserve(['client', '--server', server.url, '--data', 'mnist:0/4', '--name', 'victim'], {
      FEDSERVE_JOIN_TOKEN: JOIN_TOKEN,
    });
    cleanup.push(() => killChild(victim.child));
    await victim.waitFor(/round 1: training/);
    await killChild(victim.child, 'SIGKILL');
    const [record] = await round;
    expect(record.status).toBe('committed');
    expect(record.dropped).toEqual(['victim']);
    expect(record.contributions.map((c) => c.clientId).sort()).toEqual(['steady-1', 'steady-2']);
    // Closed by the disconnect, far before the 10-minute deadline.
    expect(record.phaseMs.training).toBeLessThan(600_000);
  });

  it('refuses stale, unselected and malformed updates with an error and keeps the model unchanged', async () => {
    const server = await coordinator({
      rounds: { start: 1, selectionWindowMs: 0, trainingTimeoutMs: 4_000, minResults: 1 },
      strategy: { sampler: { minClients: 2, maxClients: 2 } },
    });
    const n = server.coordinator.task.info.parameterCount;
    const round = nextRounds(server, 1);
    const silent = rawSocket(server.url, { token: JOIN_TOKEN, protocolVersion: PROTOCOL_VERSION, name: 'silent' });
    const trained = new Promise<unknown>((resolve) =>
      silent.once(EVENTS.train, (envelope: unknown) => resolve(decodeEnvelope(envelope))),
    );
    await connected(silent);
    client(server.url, 'mnist:3/24', 'honest');
    expect(await trained).toMatchObject({ round: 1, version: 0 });
    const send = (s: Socket, ...args: unknown[]) =>
      s.timeout(5_000).emitWithAck(EVENTS.update, ...args) as Promise<Ack>;
    const meta = { round: 1, numExamples: 10, metrics: { loss: 1, accuracy: 0.5 }, trainMs: 1 };

    // Malformed while the round is open: each refused with its reason, the round unaffected.
    expect(await send(silent, { ...meta, numExamples: -1 }, encodeWeights(new Float32Array(n)))).toMatchObject({
      ok: false,
      code: 'invalid-message',
    });
    expect(await send(silent, { ...meta, extra: 1 }, encodeWeights(new Float32Array(n)))).toMatchObject({
      ok: false,
      code: 'invalid-message',
    });
    expect(
      await send(
        silent,
        meta,
        Array.from({ length: 4 }, () => 0),
      ),
    ).toMatchObject({ ok: false, code: 'not-binary' });
    expect(await send(silent, meta, encodeWeights(new Float32Array(n - 1)))).toMatchObject({
      ok: false,
      code: 'wrong-length',
    });
    expect(await send(silent, meta, encodeWeights(new Float32Array(n).fill(Number.NaN)))).toMatchObject({
      ok: false,
      code: 'not-finite',
    });
    const inf = new Float32Array(n);
    inf[7] = Number.POSITIVE_INFINITY;
    expect(await send(silent, meta, encodeWeights(inf))).toMatchObject({
      ok: false,
      code: 'not-finite',
      message: expect.stringContaining('index 7'),
    });
    expect(await send(silent, meta)).toMatchObject({ ok: false, code: 'invalid-message' });
    expect(await silent.timeout(5_000).emitWithAck('hack', { x: 1 })).toMatchObject({
      ok: false,
      code: 'invalid-message',
    });

    // The silent participant's unusable updates put it out of the round; the honest update alone commits it.
    const [record] = await round;
    expect(record).toMatchObject({ round: 1, status: 'committed', version: 1, dropped: [] });
    expect(record.refused).toEqual([{ clientId: 'silent', reason: expect.stringMatching(/^not-binary: /) }]);
    expect(record.contributions.map((c) => c.clientId)).toEqual(['honest']);
    const committed = await weightsOf(server.url, 1);

    const stale = await send(silent, meta, encodeWeights(new Float32Array(n).fill(0.5)));
    expect(stale).toMatchObject({ ok: false, code: 'stale-round', round: 1 });

    // Round 2 selects the two connected clients at once; a client joining later is not a participant.
    server.coordinator.startRounds(1);
    expect(server.coordinator.rounds().rounds.at(-1)).toMatchObject({ round: 2, status: 'training' });
    const late = rawSocket(server.url, { token: JOIN_TOKEN, protocolVersion: PROTOCOL_VERSION, name: 'late' });
    await connected(late);
    expect(await send(late, { ...meta, round: 2 }, encodeWeights(new Float32Array(n)))).toMatchObject({
      ok: false,
      code: 'not-selected',
    });

    // A payload above the size limit is refused by closing that connection, nobody else's.
    const big = rawSocket(server.url, { token: JOIN_TOKEN, protocolVersion: PROTOCOL_VERSION, name: 'big' });
    await connected(big);
    const dropped = new Promise<string>((resolve) => big.once('disconnect', resolve));
    big.emit(EVENTS.update, meta, new ArrayBuffer(n * 4 * 2));
    expect(await dropped).toBe('transport close');

    expect(server.coordinator.currentVersion).toBeGreaterThanOrEqual(1);
    expect(await weightsOf(server.url, 1)).toEqual(committed);
    expect(server.coordinator.stats.updatesAccepted).toBeGreaterThanOrEqual(1);
    expect((await fetch(`${server.url}/v1/health`)).status).toBe(200);
  });

  it('refuses wrong or missing tokens, and data that does not fit the task, with a clear error', async () => {
    const server = await coordinator({});
    const wrong = rawSocket(server.url, { token: 'not-the-token', protocolVersion: PROTOCOL_VERSION });
    await expect(connected(wrong)).rejects.toMatchObject({
      message: 'wrong join token',
      data: { code: 'unauthorized' },
    });
    const missing = rawSocket(server.url, { protocolVersion: PROTOCOL_VERSION });
    await expect(connected(missing)).rejects.toMatchObject({
      message: expect.stringContaining('join token is required'),
    });
    const oldProtocol = rawSocket(server.url, { token: JOIN_TOKEN, protocolVersion: PROTOCOL_VERSION + 1 });
    await expect(connected(oldProtocol)).rejects.toMatchObject({ data: { code: 'unsupported-protocol' } });

    const refused = client(server.url, 'mnist:0/24', 'intruder', 'wrong-token-123');
    await expect(refused.done).rejects.toThrow(FatalClientError);
    await expect(refused.done).rejects.toThrow(/refused to join: wrong join token/);
    expect(server.coordinator.connectedClients()).toEqual([]);

    const dir = await tempDir();
    cleanup.push(dir.remove);
    const csv = join(dir.path, 'three-features.csv');
    await writeFile(csv, 'a,b,c,label\n1,2,3,0\n');
    const misfit = client(server.url, csv, 'misfit');
    await expect(misfit.done).rejects.toThrow(
      'the local data has 3 features per example, task mnist needs 784 (shape [28,28,1])',
    );

    // A second client under the same name with another identity key is refused; the first stays.
    const first = client(server.url, 'mnist:0/24', 'twin');
    while (!server.coordinator.connectedClients().includes('twin'))
      await new Promise((resolve) => setTimeout(resolve, 20));
    const impostor = client(server.url, 'mnist:1/24', 'twin');
    await expect(impostor.done).rejects.toThrow(
      /refused to join: client name 'twin' is registered with another identity key/,
    );
    expect(server.coordinator.connectedClients()).toEqual(['twin']);
    expect(first.lines.join('\n')).not.toMatch(/another client joined under this name/);

    const post = (headers: Record<string, string>, body = '{"rounds":1}') =>
      fetch(`${server.url}/v1/rounds`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body,
      });
    const none = await post({});
    expect(none.status).toBe(401);
    expect(await none.json()).toEqual({ error: expect.stringContaining('needs the admin token') });
    const bad = await post({ authorization: 'Bearer nope-nope' });
    expect(bad.status).toBe(403);
    expect(await bad.json()).toEqual({ error: 'wrong admin token' });
    expect(server.coordinator.pendingRounds()).toBe(0);

    for (const body of ['{"rounds":', '{"rounds":0}', '{"rounds":"3"}', '{"rounds":1,"x":2}', '[]']) {
      const res = await post({ authorization: `Bearer ${ADMIN_TOKEN}` }, body);
      expect(res.status).toBe(400);
      expect(Object.keys(await res.json())).toEqual(['error']);
    }
    expect(server.coordinator.pendingRounds()).toBe(0);
    const ok = await post({ authorization: `Bearer ${ADMIN_TOKEN}` });
    expect(ok.status).toBe(202);
    expect(await ok.json()).toEqual({ queued: 1, firstRound: 1, pendingRounds: 1 });
  });
});
