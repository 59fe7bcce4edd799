import { io, type Socket } from 'socket.io-client';
import { describe, expect, it } from 'vitest';
import { encodedBytes, tensorSizes, type UpdateCodecSpec } from '../../shared/compression/codec-spec.js';
import { UpdateEncoder } from '../../shared/compression/update-codec.js';
import { decodeEnvelope } from '../../shared/protocol/envelope.js';
import { PROTOCOL_VERSION, type Ack } from '../../shared/protocol/messages.js';
import { EVENTS } from '../../shared/protocol/events.js';
import { encodeWeights } from '../../shared/protocol/weights-codec.js';
import type { RunningCoordinator } from '../../server/app.js';
import {
  JOIN_TOKEN,
  nextRounds,
  startClient,
  startTestCoordinator,
  tempDir,
  type TestClient,
  coordinatorSuite,
} from './helpers.js';

/**
 * Compressed updates end to end: a coordinator announcing a codec, real NodeClients training on
 * real MNIST digits and uploading over socket.io, and a hand-driven socket sending what an honest
 * client would not.
 */

const cleanup = coordinatorSuite();

async function coordinator(
  codec: UpdateCodecSpec,
  rounds: number,
  clients: number,
): Promise<RunningCoordinator & { logs: string[] }> {
  const dir = await tempDir();
  const running = await startTestCoordinator(dir.path, {
    eval: 'mnist:test',
    rounds: { start: rounds, selectionWindowMs: 0, trainingTimeoutMs: 60_000 },
    strategy: { sampler: { minClients: clients, maxClients: clients } },
    compression: codec.codec === 'topk' ? { codec: 'topk', topkFraction: codec.fraction } : { codec: codec.codec },
  });
  cleanup.push(dir.remove, () => running.close());
  return running;
}

function client(url: string, spec: string, name: string): TestClient {
  const c = startClient(url, spec, name);
  cleanup.push(async () => {
    c.client.stop();
    await c.done.catch(() => undefined);
  });
  return c;
}

describe('compressed updates over socket.io', () => {
  it.each<UpdateCodecSpec>([{ codec: 'int8' }, { codec: 'topk', fraction: 0.1 }])(
    '$codec: 3 NodeClients train 2 rounds, each update takes the codec size on the wire, and the model learns',
    async (codec) => {
      const server = await coordinator(codec, 2, 3);
      const rounds = nextRounds(server, 2);
      const clients = [0, 1, 2].map((i) => client(server.url, `mnist:${i}/24`, `c${i}`));
      const records = await rounds;
      const sizes = tensorSizes(server.coordinator.task.weightSpecs);
      const expected = encodedBytes(codec, sizes);
      expect(expected).toBeLessThan(0.27 * 4 * server.coordinator.task.info.parameterCount);
      expect(records.map((r) => [r.status, r.contributions.length, r.updateBytes])).toEqual([
        ['committed', 3, 3 * expected],
        ['committed', 3, 3 * expected],
      ]);
      // Chance is 10%: the federation learned from compressed updates.
      expect(records[1].evaluation!.accuracy).toBeGreaterThan(0.3);
      for (const c of clients) {
        expect(c.outcomes.map((o) => [o.accepted, o.uploadBytes])).toEqual([
          [true, expected],
          [true, expected],
        ]);
        expect(c.lines.some((l) => l.includes(`round 1: update encoded as ${codec.codec}`))).toBe(true);
      }
    },
  );

  it('announces the codec in the training task and refuses updates encoded otherwise or invalid', async () => {
    const server = await coordinator({ codec: 'int8' }, 1, 2);
    const sizes = tensorSizes(server.coordinator.task.weightSpecs);
    const n = server.coordinator.task.info.parameterCount;
    const round = nextRounds(server, 1);
    const raw: Socket = io(server.url, {
      auth: { token: JOIN_TOKEN, protocolVersion: PROTOCOL_VERSION, name: 'raw' },
      transports: ['websocket'],
      reconnection: false,
      forceNew: true,
    });
    cleanup.push(async () => void raw.disconnect());
    const task = new Promise<unknown>((resolve) =>
      raw.once(EVENTS.train, (envelope: unknown) => resolve(decodeEnvelope(envelope))),
    );
    client(server.url, 'mnist:3/24', 'honest');
    expect(await task).toMatchObject({ round: 1, compression: { codec: 'int8' } });

    const send = (meta: unknown, payload: unknown) =>
      raw.timeout(10_000).emitWithAck(EVENTS.update, meta, payload) as Promise<Ack>;
    const meta = { round: 1, numExamples: 10, metrics: { loss: 1, accuracy: 0.5 }, trainMs: 1 };
    const int8 = new UpdateEncoder(sizes).encode(new Float32Array(n).fill(0.01), { codec: 'int8' }).payload;
    // Another codec than announced: refused, and the sender may still send the right one.
    expect(await send(meta, encodeWeights(new Float32Array(n)))).toMatchObject({
      ok: false,
      code: 'wrong-codec',
      message: expect.stringMatching(/float32, round 1 announced int8/),
    });
    const topk = new UpdateEncoder(sizes).encode(new Float32Array(n).fill(0.01), {
      codec: 'topk',
      fraction: 0.5,
    }).payload;
    expect(await send({ ...meta, codec: { codec: 'topk', fraction: 0.5 } }, topk)).toMatchObject({
      ok: false,
      code: 'wrong-codec',
    });
    // JSON numbers instead of bytes, and a truncated payload.
    expect(
      await send(
        { ...meta, codec: { codec: 'int8' } },
        Array.from({ length: 8 }, () => 1),
      ),
    ).toMatchObject({ ok: false, code: 'not-binary' });
    expect(await send({ ...meta, codec: { codec: 'int8' } }, int8.slice(0, int8.byteLength - 1))).toMatchObject({
      ok: false,
      code: 'wrong-length',
    });
    // A NaN scale: the sender is out of the round.
    const badScale = int8.slice(0);
    new DataView(badScale).setFloat32(0, Number.NaN, true);
    expect(await send({ ...meta, codec: { codec: 'int8' } }, badScale)).toMatchObject({
      ok: false,
      code: 'bad-encoding',
      message: expect.stringMatching(/tensor 0 has scale NaN/),
    });

    const [record] = await round;
    expect(record.status).toBe('committed');
    expect(record.contributions.map((c) => c.clientId)).toEqual(['honest']);
    expect(record.refused).toEqual([{ clientId: 'raw', reason: expect.stringMatching(/^not-binary: /) }]);
    expect(record.updateBytes).toBe(encodedBytes({ codec: 'int8' }, sizes));
  });
});
