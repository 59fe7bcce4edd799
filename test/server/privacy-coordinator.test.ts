import { io, type Socket } from 'socket.io-client';
import { describe, expect, it } from 'vitest';
import { computeEpsilon } from '../../shared/privacy/rdp.js';
import { decodeEnvelope } from '../../shared/protocol/envelope.js';
import { PROTOCOL_VERSION, type TrainTask, type Ack } from '../../shared/protocol/messages.js';
import { EVENTS } from '../../shared/protocol/events.js';
import { PublicRoundListSchema } from '../../shared/protocol/public-rounds.js';
import { encodeWeights } from '../../shared/protocol/weights-codec.js';
import {
  ADMIN_TOKEN,
  JOIN_TOKEN,
  nextRounds,
  startClient,
  startTestCoordinator,
  tempDir,
  coordinatorSuite,
} from '../e2e/helpers.js';

/**
 * Differential privacy on a live coordinator over socket.io on 127.0.0.1: the coordinator enforces
 * the clip norm, reports epsilon after every round everywhere, stops before the budget would be
 * passed, and keeps the ledger across a restart.
 */

const cleanup = coordinatorSuite();

function rawClient(url: string, name: string): Socket {
  const socket = io(url, {
    auth: { token: JOIN_TOKEN, protocolVersion: PROTOCOL_VERSION, name },
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
  });
  cleanup.push(async () => {
    socket.disconnect();
  });
  return socket;
}

function l2(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return Math.sqrt(s);
}

describe('differential privacy on the coordinator', () => {
  it('clips every update on arrival: a huge update moves the model by at most C / n', async () => {
    const dir = await tempDir();
    cleanup.push(dir.remove);
    const clipNorm = 0.8;
    const server = await startTestCoordinator(dir.path, {
      rounds: { selectionWindowMs: 0, trainingTimeoutMs: 30_000 },
      strategy: { sampler: { minClients: 2 } },
      // Negligible noise (z = 1e-9) so that the test sees the clipping; the budget is sized to allow it.
      privacy: { mode: 'central', noiseMultiplier: 1e-9, clipNorm, delta: 1e-5, targetEpsilon: 1e30 },
    });
    cleanup.push(() => server.close());
    const n = server.coordinator.task.info.parameterCount;
    const before = server.coordinator.currentWeights();
    const round = nextRounds(server, 1);
    server.coordinator.startRounds(1);
    const sockets = ['attacker', 'honest'].map((name) => rawClient(server.url, name));
    const tasks = await Promise.all(
      sockets.map(
        (s) =>
          new Promise<TrainTask>((resolve) =>
            s.once(EVENTS.train, (envelope: unknown) => resolve(decodeEnvelope(envelope) as TrainTask)),
          ),
      ),
    );
    for (const task of tasks)
      expect(task.privacy).toEqual({
        mode: 'central',
        clipNorm,
        noiseMultiplier: 1e-9,
        updateNoiseStd: 0,
        indicatorNoiseStd: null,
      });

    const meta = { round: 1, numExamples: 1_000, metrics: { loss: 1, accuracy: 0.5 }, trainMs: 1 };
    // The attacker ignores the instructions: every coordinate +100 (norm ~35,000).
    const huge = new Float32Array(n).fill(100);
    const send = (s: Socket, delta: Float32Array) =>
      s.timeout(10_000).emitWithAck(EVENTS.update, meta, encodeWeights(delta)) as Promise<Ack>;
    expect(await send(sockets[0], huge)).toMatchObject({ ok: true });
    expect(await send(sockets[1], new Float32Array(n))).toMatchObject({ ok: true });

    const [record] = await round;
    expect(record.status).toBe('committed');
    expect(record.privacy).toMatchObject({
      mode: 'central',
      contributors: 2,
      expectedContributors: 2,
      clipNorm,
      clippedUpdates: 1,
    });
    const moved = l2(server.coordinator.currentWeights(), before);
    // FedAvg with server learning rate 1: the mean of clip(huge) and 0 over n = 2 expected contributors.
    expect(moved).toBeLessThanOrEqual((clipNorm / 2) * (1 + 1e-5));
    expect(moved).toBeGreaterThan((clipNorm / 2) * 0.999);
  });

  it('reports epsilon after every round, stops before the budget is passed, and resumes the ledger', async () => {
    const dir = await tempDir();
    cleanup.push(dir.remove);
    const privacy = { mode: 'central', noiseMultiplier: 1, clipNorm: 1, delta: 1e-5, targetEpsilon: 10 } as const;
    const overrides = {
      rounds: { selectionWindowMs: 0, trainingTimeoutMs: 60_000 },
      strategy: { sampler: { minClients: 2 }, evaluation: { fraction: 0 } },
      privacy,
    };
    const server = await startTestCoordinator(dir.path, overrides);
    let closed = false;
    cleanup.push(async () => {
      if (!closed) await server.close();
    });
    const clients = ['dp-a', 'dp-b'].map((name, i) => startClient(server.url, `mnist:${i}/80`, name));
    cleanup.push(async () => {
      for (const c of clients) c.client.stop();
      await Promise.all(clients.map((c) => c.done.catch(() => undefined)));
    });
    const rounds = nextRounds(server, 3);
    server.coordinator.startRounds(5);
    const records = await rounds;

    // q = 1, z = 1, delta = 1e-5: epsilon 4.7, 7.1, 9.1 after rounds 1-3; a 4th would pass 10.
    const expected = [1, 2, 3].map((steps) => computeEpsilon({ q: 1, noiseMultiplier: 1, steps, delta: 1e-5 }).epsilon);
    expect(computeEpsilon({ q: 1, noiseMultiplier: 1, steps: 4, delta: 1e-5 }).epsilon).toBeGreaterThan(10);
    expect(records.map((r) => r.status)).toEqual(['committed', 'committed', 'committed']);
    records.forEach((r, i) => expect(r.privacy!.epsilon).toBeCloseTo(expected[i], 10));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(server.coordinator.pendingRounds()).toBe(0);
    expect(server.logs.join('\n')).toMatch(
      /training stopped, 2 queued round\(s\) dropped: privacy budget exhausted: one more round would bring epsilon from 9\.\d+ to 1\d\.\d+ > targetEpsilon 10/,
    );

    const listed = PublicRoundListSchema.parse(await (await fetch(`${server.url}/v1/rounds`)).json());
    // The public view under differential privacy: what the accountant covers, epsilon included.
    expect(listed.rounds.map((r) => (r.view === 'dp' ? r.privacy?.epsilon : r.view))).toEqual(
      records.map((r) => r.privacy!.epsilon),
    );
    expect(listed.privacy).toMatchObject({
      mode: 'central',
      rounds: 3,
      roundsRemaining: 0,
      targetEpsilon: 10,
      delta: 1e-5,
    });
    expect(listed.privacy!.epsilon).toBeCloseTo(expected[2], 10);
    expect(listed.privacy!.exhausted).toMatch(/^privacy budget exhausted/);

    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toContain(`fedserve_privacy_epsilon ${listed.privacy!.epsilon}`);
    expect(metrics).toContain('fedserve_privacy_target_epsilon 10');
    expect(metrics).toContain('fedserve_privacy_budget_exhausted 1');

    const post = () =>
      fetch(`${server.url}/v1/rounds`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
        body: JSON.stringify({ rounds: 1 }),
      });
    const refused = await post();
    expect(refused.status).toBe(409);
    expect(((await refused.json()) as { error: string }).error).toMatch(
      /no more rounds can run: privacy budget exhausted/,
    );

    // Each client logs the epsilon spent after every round it took part in.
    for (const c of clients) {
      const spent = c.lines.filter((l) =>
        /committed as version \d+; privacy spent: epsilon \d+\.\d{3} of 10 \(delta 0\.00001\)/.test(l),
      );
      expect(spent).toHaveLength(3);
      expect(c.lines.some((l) => /update clipped to L2 norm <= 1\.000 \(central differential privacy\)/.test(l))).toBe(
        true,
      );
    }

    // A restarted coordinator resumes the ledger from its checkpoint: still exhausted, same epsilon.
    for (const c of clients) c.client.stop();
    await server.close();
    closed = true;
    const resumed = await startTestCoordinator(dir.path, overrides);
    cleanup.push(() => resumed.close());
    const again = PublicRoundListSchema.parse(await (await fetch(`${resumed.url}/v1/rounds`)).json());
    expect(again.privacy).toEqual(listed.privacy);
    expect(() => resumed.coordinator.startRounds(1)).toThrow(/privacy budget exhausted/);
  });
});
