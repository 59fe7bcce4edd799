import { io, type Socket } from 'socket.io-client';
import { describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION, type TrainTask, type UpdateMeta, type Ack } from '../../shared/protocol/messages.js';
import { EVENTS } from '../../shared/protocol/events.js';
import { RoundLog } from '../../server/round-log.js';
import { encodeWeights } from '../../shared/protocol/weights-codec.js';
import { JOIN_TOKEN, nextRounds, startTestCoordinator, tempDir, coordinatorSuite } from '../e2e/helpers.js';
import { join } from 'node:path';
import { silentLogger } from '../../server/logger.js';

/**
 * The attacks of issue 11 on a live coordinator over socket.io: a selected client sends an
 * update that is schema-valid in spirit but absurd (2^53 - 1 examples, a loss of 1e308, a delta
 * of 3.4e38). Each is refused, the honest clients' round commits, and the model stays finite.
 */

const cleanup = coordinatorSuite();

function bareClient(url: string, name: string): { socket: Socket; task: Promise<TrainTask> } {
  const socket = io(url, {
    auth: { token: JOIN_TOKEN, protocolVersion: PROTOCOL_VERSION, name },
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
  });
  cleanup.push(async () => {
    socket.disconnect();
  });
  return { socket, task: new Promise((resolve) => socket.once(EVENTS.train, resolve)) };
}

async function coordinatorWith(names: string[], config: Parameters<typeof startTestCoordinator>[1] = {}) {
  const dir = await tempDir();
  cleanup.push(dir.remove);
  // An update with invalid metadata cannot be attributed to a round: the round waits for its sender until the deadline.
  const server = await startTestCoordinator(dir.path, {
    strategy: { sampler: { minClients: names.length } },
    ...config,
    rounds: { selectionWindowMs: 0, trainingTimeoutMs: 2_000, ...config.rounds },
  });
  cleanup.push(() => server.close());
  const clients = names.map((name) => bareClient(server.url, name));
  return { server, dir: dir.path, clients };
}

const honestMeta: UpdateMeta = { round: 1, numExamples: 100, metrics: { loss: 0.7, accuracy: 0.8 }, trainMs: 5 };
const send = (socket: Socket, meta: unknown, delta: Float32Array): Promise<Ack> =>
  socket.timeout(10_000).emitWithAck(EVENTS.update, meta, encodeWeights(delta));

function maxAbs(w: Float32Array): number {
  let m = 0;
  for (const v of w) m = Math.max(m, Math.abs(v));
  return m;
}

describe('hostile updates on a live coordinator', () => {
  it.each([
    ['2^53 - 1 examples', { ...honestMeta, numExamples: Number.MAX_SAFE_INTEGER }, 'invalid-message', /numExamples/],
    ['a loss of 1e308', { ...honestMeta, metrics: { loss: 1e308, accuracy: 0.5 } }, 'invalid-message', /metrics\.loss/],
    [
      'a delta of 3.4e38 with 1,000 examples',
      { ...honestMeta, numExamples: 1000 },
      'norm-too-large',
      /above the limit 1000/,
    ],
  ])('refuses %s, commits the honest updates and keeps the model finite', async (_name, meta, code, message) => {
    const { server, dir, clients } = await coordinatorWith(['honest-a', 'honest-b', 'mallory'], {
      rounds: { minResults: 2 },
    });
    const round = nextRounds(server, 1);
    server.coordinator.startRounds(1);
    const n = server.coordinator.task.info.parameterCount;
    await Promise.all(clients.map((c) => c.task));
    const hostileDelta = code === 'norm-too-large' ? new Float32Array(n).fill(3.4e38) : new Float32Array(n).fill(0.001);
    const reply = await send(clients[2].socket, meta, hostileDelta);
    expect(reply).toMatchObject({ ok: false, code });
    expect(reply.ok ? '' : reply.message).toMatch(message);
    for (const c of clients.slice(0, 2))
      expect(await send(c.socket, honestMeta, new Float32Array(n).fill(0.001))).toEqual({ ok: true, round: 1 });
    const [record] = await round;
    expect(record).toMatchObject({ status: 'committed', numExamples: 200 });
    expect(record.contributions.map((c) => c.clientId)).toEqual(['honest-a', 'honest-b']);
    expect(maxAbs(server.coordinator.currentWeights())).toBeLessThan(10);
    // The round log reads back what was written.
    await server.close();
    expect((await new RoundLog(join(dir, 'rounds.jsonl'), silentLogger()).read()).map((r) => r.round)).toEqual([1]);
  });

  it('takes the sender of a too-large update out of the round, so the round does not wait for it', async () => {
    const { server, clients } = await coordinatorWith(['honest', 'mallory']);
    const round = nextRounds(server, 1);
    server.coordinator.startRounds(1);
    const n = server.coordinator.task.info.parameterCount;
    await Promise.all(clients.map((c) => c.task));
    expect(await send(clients[0].socket, honestMeta, new Float32Array(n).fill(0.001))).toEqual({ ok: true, round: 1 });
    expect(await send(clients[1].socket, honestMeta, new Float32Array(n).fill(3))).toMatchObject({
      ok: false,
      code: 'norm-too-large',
    });
    const [record] = await round;
    expect(record.status).toBe('committed');
    expect(record.refused).toEqual([
      {
        clientId: 'mallory',
        reason: expect.stringMatching(/^norm-too-large: update has L2 norm 1048, above the limit/),
      },
    ]);
    // A second try in the same round changes nothing.
    expect(await send(clients[1].socket, honestMeta, new Float32Array(n).fill(0.001))).toMatchObject({ ok: false });
  });

  it('fails a round whose aggregate would explode the model, leaving the model and version unchanged', async () => {
    // Updates under the cap whose server step (server learning rate 1e6) is far above it.
    const { server, clients } = await coordinatorWith(['a', 'b'], {
      strategy: { sampler: { minClients: 2 }, serverOptimizer: { kind: 'sgd', learningRate: 1e6 } },
    });
    const round = nextRounds(server, 1);
    const before = server.coordinator.currentWeights();
    server.coordinator.startRounds(1);
    const n = server.coordinator.task.info.parameterCount;
    await Promise.all(clients.map((c) => c.task));
    for (const c of clients)
      expect(await send(c.socket, honestMeta, new Float32Array(n).fill(1e-3))).toEqual({ ok: true, round: 1 });
    const [record] = await round;
    expect(record.status).toBe('failed');
    expect(record.reason).toMatch(
      /aggregation failed: the server optimizer's step has L2 norm 3\.49\de\+5, above the limit 1000/,
    );
    expect(server.coordinator.currentVersion).toBe(0);
    expect(server.coordinator.currentWeights()).toEqual(before);
  });
});
