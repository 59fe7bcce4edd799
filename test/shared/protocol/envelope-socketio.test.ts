import { Decoder, Encoder, PacketType, type Packet } from 'socket.io-parser';
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { decodeEnvelope, encodeEnvelope } from '../../../shared/protocol/envelope.js';
import { TrainTaskSchema, type TrainTask } from '../../../shared/protocol/messages.js';
import { EVENTS } from '../../../shared/protocol/events.js';
import { encodeWeights } from '../../../shared/protocol/weights-codec.js';
import {
  createSetup,
  generateIdentity,
  SecAggClientMessageSchema,
  type SecAggClientMessage,
  SecAggServerMessageSchema,
  type SecAggServerMessage,
} from '../../../shared/secagg/index.js';

/**
 * socket.io-parser refuses a packet with more than 10 binary attachments (`maxAttachments`).
 * Every message that carries byte fields travels as one envelope, so its packet has a fixed
 * number of attachments whatever the number of clients: checked here with socket.io's own
 * encoder and decoder on every message type at n = 200, the worst case of k = n - 1 neighbours.
 */

const N = 200;
const PEERS = N - 1;
const ids = Array.from({ length: N }, (_, i) => `client-${i}`);
const filled = (length: number, byte: number) => new Uint8Array(length).fill(byte);
const keys = (i: number) => ({
  encryptionKey: filled(32, i),
  maskingKey: filled(32, i + 1),
  digest: filled(32, i + 3),
  seedCommitment: filled(32, i + 4),
  shareRoot: filled(32, i + 5),
  signature: filled(64, i + 2),
});
const shamirShare = (i: number) => filled(33, i);
const sealed = (i: number) => filled(250, i);

const setup = createSetup({
  round: 7,
  participants: ids.map((id) => ({ id, identityKey: generateIdentity().publicKey })),
  vectorLength: 7852,
  clip: 1,
  maxWeight: 10_000,
  graph: { k: PEERS },
});

/** One sample per message type: when a type is added to a union, the coverage check below asks for its sample. */
const clientSamples: SecAggClientMessage[] = [
  { type: 'secagg/advertise-keys', round: 7, ...keys(1) },
  { type: 'secagg/share-keys', round: 7, shares: ids.slice(1).map((to, i) => ({ to, sealed: sealed(i) })) },
  { type: 'secagg/masked-input', round: 7, masked: filled(4 * 7853, 9) },
  { type: 'secagg/consistency', round: 7, signature: filled(64, 5) },
  {
    type: 'secagg/unmask',
    round: 7,
    selfMaskShares: ids.slice(1, 100).map((of, i) => ({ of, share: shamirShare(i), proof: filled(32 * 8, i) })),
    maskingKeyShares: ids.slice(100).map((of, i) => ({ of, share: shamirShare(i), proof: filled(32 * 8, i) })),
  },
  {
    type: 'secagg/refusal',
    round: 7,
    reason: 'the identity key of client-3 differs from the one seen in earlier rounds',
  },
];
const serverSamples: SecAggServerMessage[] = [
  { type: 'secagg/peer-keys', round: 7, peers: ids.slice(1).map((id, i) => ({ id, ...keys(i) })) },
  { type: 'secagg/routed-shares', round: 7, shares: ids.slice(1).map((from, i) => ({ from, sealed: sealed(i) })) },
  { type: 'secagg/consistency-request', round: 7, survivors: ids },
  {
    type: 'secagg/unmask-request',
    round: 7,
    survivors: ids,
    signatures: ids.slice(1).map((id, i) => ({ id, signature: filled(64, i) })),
  },
];
const trainTask: TrainTask = {
  round: 7,
  version: 6,
  config: { epochs: 1, batchSize: 20, learningRate: 0.1, optimizer: 'sgd' },
  timeoutMs: 30_000,
  secureAggregation: { setup, slots: [{ kind: 'loss', range: 100 }] },
};

function typesOf(union: { options: readonly { shape: { type: z.ZodLiteral<string> } }[] }): string[] {
  return union.options.map((o) => o.shape.type.value);
}

/** Encodes an event with socket.io's encoder: the header string, then the attachments. */
function encodePacket(event: string, ...args: unknown[]): { header: string; attachments: unknown[] } {
  const packet: Packet = { type: PacketType.EVENT, nsp: '/', id: 1, data: [event, ...args] };
  const [header, ...attachments] = new Encoder().encode(packet);
  return { header: header as string, attachments };
}

/** Feeds an encoded packet to socket.io's decoder with its default limits; resolves with the arguments. */
function decodePacket(encoded: { header: string; attachments: unknown[] }): unknown[] {
  const decoder = new Decoder();
  let data: unknown[] | undefined;
  decoder.on('decoded', (packet: Packet) => (data = packet.data as unknown[]));
  decoder.add(encoded.header);
  for (const a of encoded.attachments) decoder.add(a);
  if (!data) throw new Error('the decoder did not complete the packet');
  return data.slice(1);
}

describe(`socket.io attachments per message at n = ${N}`, () => {
  it('the samples cover every secure-aggregation message type and are valid messages', () => {
    expect(clientSamples.map((m) => m.type).sort()).toEqual(typesOf(SecAggClientMessageSchema).sort());
    expect(serverSamples.map((m) => m.type).sort()).toEqual(typesOf(SecAggServerMessageSchema).sort());
    for (const m of clientSamples) expect(SecAggClientMessageSchema.safeParse(m).success, m.type).toBe(true);
    for (const m of serverSamples) expect(SecAggServerMessageSchema.safeParse(m).success, m.type).toBe(true);
    expect(TrainTaskSchema.safeParse(trainTask).success).toBe(true);
  });

  it.each([
    ...clientSamples.map((m) => [m.type, SecAggClientMessageSchema, m] as const),
    ...serverSamples.map((m) => [m.type, SecAggServerMessageSchema, m] as const),
  ])("'%s' is one attachment and survives socket.io's decoder", (_, schema, message) => {
    const encoded = encodePacket(EVENTS.secagg, encodeEnvelope(message));
    expect(encoded.attachments).toHaveLength(1);
    const [envelope] = decodePacket(encoded);
    expect((schema as z.ZodType).parse(decodeEnvelope(envelope))).toEqual(message);
  });

  it(`'${EVENTS.train}' is two attachments (the task's envelope and the global weights) and survives socket.io's decoder`, () => {
    const weights = Float32Array.from({ length: 7850 }, (_, i) => i / 7850);
    const encoded = encodePacket(EVENTS.train, encodeEnvelope(trainTask), encodeWeights(weights));
    expect(encoded.attachments).toHaveLength(2);
    const [envelope, payload] = decodePacket(encoded);
    expect(TrainTaskSchema.parse(decodeEnvelope(envelope))).toEqual(trainTask);
    expect(new Float32Array(payload as ArrayBuffer)).toEqual(weights);
  });

  it('without the envelope the same messages exceed the limit and socket.io refuses them', () => {
    const refused: string[] = [];
    for (const message of [trainTask, ...clientSamples, ...serverSamples]) {
      const encoded = encodePacket(EVENTS.secagg, message);
      if (encoded.attachments.length <= 10) continue;
      expect(() => decodePacket(encoded)).toThrow('too many attachments');
      refused.push('type' in message ? message.type : EVENTS.train);
    }
    expect(refused).toEqual([
      EVENTS.train,
      'secagg/share-keys',
      'secagg/unmask',
      'secagg/peer-keys',
      'secagg/routed-shares',
      'secagg/unmask-request',
    ]);
  });
});
