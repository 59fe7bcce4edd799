import { io, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeEnvelope } from '../../shared/protocol/envelope.js';
import { PROTOCOL_VERSION, type Ack } from '../../shared/protocol/messages.js';
import { EVENTS } from '../../shared/protocol/events.js';
import { identityKeyToText } from '../../shared/protocol/secagg-messages.js';
import { generateIdentity } from '../../shared/secagg/index.js';
import { JOIN_TOKEN, startTestCoordinator, tempDir } from '../e2e/helpers.js';

/**
 * The coordinator's socket transport takes secure-aggregation messages only as one well-formed
 * envelope holding a valid message: anything else is refused with the problem named, before it
 * reaches the round.
 */

let dir: Awaited<ReturnType<typeof tempDir>>;
let server: Awaited<ReturnType<typeof startTestCoordinator>>;
let socket: Socket;

beforeAll(async () => {
  dir = await tempDir();
  server = await startTestCoordinator(dir.path, {
    secureAggregation: { enabled: true },
    strategy: { sampler: { minClients: 3 } },
  });
  socket = io(server.url, {
    auth: {
      token: JOIN_TOKEN,
      protocolVersion: PROTOCOL_VERSION,
      name: 'raw',
      identityKey: identityKeyToText(generateIdentity().publicKey),
    },
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('connect_error', reject);
  });
});

afterAll(async () => {
  socket?.disconnect();
  await server?.close();
  await dir?.remove();
});

const advertise = {
  type: 'secagg/advertise-keys',
  round: 1,
  encryptionKey: new Uint8Array(32),
  maskingKey: new Uint8Array(32),
  digest: new Uint8Array(32),
  seedCommitment: new Uint8Array(32),
  shareRoot: new Uint8Array(32),
  signature: new Uint8Array(64),
};

/** An envelope with its header, JSON and byte region given by hand. */
function craft(json: string, region: number[] = []): Uint8Array {
  const text = new TextEncoder().encode(json);
  const out = new Uint8Array(4 + text.length + region.length);
  new DataView(out.buffer).setUint32(0, text.length, true);
  out.set(text, 4);
  out.set(region, 4 + text.length);
  return out;
}

const send = (...args: unknown[]) => socket.timeout(5_000).emitWithAck(EVENTS.secagg, ...args) as Promise<Ack>;

describe(`'${EVENTS.secagg}' messages on the socket`, () => {
  it.each([
    [
      'a plain JSON message (no envelope)',
      [advertise],
      'invalid secagg message: envelope: the message must be one binary envelope (ArrayBuffer or Uint8Array), got object',
    ],
    [
      'two arguments',
      [encodeEnvelope(advertise), new Uint8Array(1)],
      'invalid secagg message: takes 1 argument (an envelope), got 2',
    ],
    [
      'trailing bytes',
      [craft('{"type":"secagg/refusal","round":1,"reason":"x"}', [0])],
      'invalid secagg message: envelope: 1 byte(s) after the last field (trailing bytes)',
    ],
    [
      'a placeholder out of range',
      [craft('{"k":{"$b":[0,64]}}', [1, 2])],
      'invalid secagg message: envelope: k spans bytes 0..64, beyond the 2-byte region',
    ],
    [
      'a __proto__ key',
      [craft('{"type":"secagg/refusal","round":1,"reason":"x","__proto__":{"admin":true}}')],
      "invalid secagg message: envelope: the top level has the forbidden key '__proto__'",
    ],
    [
      'a well-formed envelope holding an invalid message',
      [encodeEnvelope({ ...advertise, encryptionKey: new Uint8Array(31) })],
      'invalid secagg message: encryptionKey: must be 32 bytes',
    ],
    [
      'a well-formed envelope holding an unknown field',
      [encodeEnvelope({ ...advertise, extra: new Uint8Array(1) })],
      'invalid secagg message: Unrecognized key: "extra"',
    ],
  ])('refuses %s with the problem named', async (_, args, message) => {
    expect(await send(...args)).toEqual({ ok: false, code: 'invalid-message', message });
  });

  it('passes a valid message in a well-formed envelope on to the round (here: none is running)', async () => {
    expect(await send(encodeEnvelope(advertise))).toMatchObject({ ok: false, code: 'stale-round', round: 1 });
  });
});
