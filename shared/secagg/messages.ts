import { z } from 'zod';
import { encodeEnvelope } from '../protocol/envelope.js';

/**
 * The secure-aggregation messages, as zod schemas for both directions of the trust boundary.
 * Each travels as one binary envelope (shared/protocol/envelope.ts), decoded before these schemas
 * run. Byte fields accept Uint8Array (what the envelope decodes to, or a Node Buffer) and
 * ArrayBuffer, and come out as Uint8Array. Client messages carry no sender id: the transport
 * passes the authenticated sender to the server state machine.
 */

function bytes(length?: number) {
  return z
    .custom<Uint8Array | ArrayBuffer>((b) => b instanceof Uint8Array || b instanceof ArrayBuffer, {
      error: 'must be binary (Uint8Array or ArrayBuffer)',
    })
    .transform((b): Uint8Array => (b instanceof ArrayBuffer ? new Uint8Array(b) : b))
    .refine((b) => length === undefined || b.length === length, { error: `must be ${length} bytes` });
}

const clientId = z.string().min(1).max(128);
const roundNumber = z.number().int().nonnegative();

/** Everything both sides must agree on before the round's first message. */
export const SecAggSetupSchema = z.strictObject({
  round: roundNumber,
  /** Fresh coordinator randomness per attempt: seeds the graph, and binds signatures to this attempt. */
  nonce: bytes(32),
  participants: z.array(z.strictObject({ id: clientId, identityKey: bytes(32) })).min(3),
  k: z.number().int(),
  threshold: z.number().int(),
  vectorLength: z.number().int().positive(),
  clip: z.number().positive(),
  maxWeight: z.number().int().positive(),
  /** Value words in Z_2^16 (2 bytes each on the wire) instead of Z_2^32; see encoding.ts. */
  wordBits: z.literal(16).optional(),
});
export type SecAggSetup = z.infer<typeof SecAggSetupSchema>;

const AdvertisedKeysFields = {
  encryptionKey: bytes(32),
  maskingKey: bytes(32),
  /** Digest of the task this client was given (model, config, roster): neighbours must agree. */
  digest: bytes(32),
  /** Commitment to this round's self-mask seed. */
  seedCommitment: bytes(32),
  /** Merkle root over the shares this client deals its neighbours (share-commitment.ts). */
  shareRoot: bytes(32),
  signature: bytes(64),
};

const signature = bytes(64);

// ---------- client -> coordinator ----------

export const AdvertiseKeysMessageSchema = z.strictObject({
  type: z.literal('secagg/advertise-keys'),
  round: roundNumber,
  ...AdvertisedKeysFields,
});

export const ShareKeysMessageSchema = z.strictObject({
  type: z.literal('secagg/share-keys'),
  round: roundNumber,
  shares: z.array(z.strictObject({ to: clientId, sealed: bytes() })),
});

export const MaskedInputMessageSchema = z.strictObject({
  type: z.literal('secagg/masked-input'),
  round: roundNumber,
  /** m + 1 little-endian uint32 words. */
  masked: bytes(),
});

/** A consistency-round signature over (round, nonce, digest, survivors) by the client it names. */
export const ConsistencyMessageSchema = z.strictObject({
  type: z.literal('secagg/consistency'),
  round: roundNumber,
  signature,
});

/** A revealed share, with the hashes leading to its dealer's signed share root, so that a forged one is pinned on whoever revealed it. */
const RevealedShareSchema = z.strictObject({ of: clientId, share: bytes(), proof: bytes() });

export const UnmaskMessageSchema = z.strictObject({
  type: z.literal('secagg/unmask'),
  round: roundNumber,
  /** Shares of the self-mask seeds of neighbours that survived. */
  selfMaskShares: z.array(RevealedShareSchema),
  /** Shares of the masking secret keys of neighbours that dropped. */
  maskingKeyShares: z.array(RevealedShareSchema),
});

/** A client that refuses to go on (tampered key, coordinator misbehaving) says why. */
export const RefusalMessageSchema = z.strictObject({
  type: z.literal('secagg/refusal'),
  round: roundNumber,
  reason: z.string().max(1000),
});

export const SecAggClientMessageSchema = z.discriminatedUnion('type', [
  AdvertiseKeysMessageSchema,
  ShareKeysMessageSchema,
  MaskedInputMessageSchema,
  ConsistencyMessageSchema,
  UnmaskMessageSchema,
  RefusalMessageSchema,
]);
export type SecAggClientMessage = z.infer<typeof SecAggClientMessageSchema>;
export type AdvertiseKeysMessage = z.infer<typeof AdvertiseKeysMessageSchema>;
export type ShareKeysMessage = z.infer<typeof ShareKeysMessageSchema>;
export type MaskedInputMessage = z.infer<typeof MaskedInputMessageSchema>;
export type ConsistencyMessage = z.infer<typeof ConsistencyMessageSchema>;
export type UnmaskMessage = z.infer<typeof UnmaskMessageSchema>;
export type RefusalMessage = z.infer<typeof RefusalMessageSchema>;

// ---------- coordinator -> client ----------

export const PeerKeysMessageSchema = z.strictObject({
  type: z.literal('secagg/peer-keys'),
  round: roundNumber,
  peers: z.array(z.strictObject({ id: clientId, ...AdvertisedKeysFields })),
});

export const RoutedSharesMessageSchema = z.strictObject({
  type: z.literal('secagg/routed-shares'),
  round: roundNumber,
  shares: z.array(z.strictObject({ from: clientId, sealed: bytes() })),
});

/** Every client whose masked input is in the sum; each signs this list once, in the consistency round. */
const survivors = z.array(clientId);

export const ConsistencyRequestMessageSchema = z.strictObject({
  type: z.literal('secagg/consistency-request'),
  round: roundNumber,
  survivors,
});

export const UnmaskRequestMessageSchema = z.strictObject({
  type: z.literal('secagg/unmask-request'),
  round: roundNumber,
  survivors,
  /** The recipient's neighbours' consistency signatures on the same list. */
  signatures: z.array(z.strictObject({ id: clientId, signature })),
});

export const SecAggServerMessageSchema = z.discriminatedUnion('type', [
  PeerKeysMessageSchema,
  RoutedSharesMessageSchema,
  ConsistencyRequestMessageSchema,
  UnmaskRequestMessageSchema,
]);
export type SecAggServerMessage = z.infer<typeof SecAggServerMessageSchema>;
export type PeerKeysMessage = z.infer<typeof PeerKeysMessageSchema>;
export type RoutedSharesMessage = z.infer<typeof RoutedSharesMessageSchema>;
export type ConsistencyRequestMessage = z.infer<typeof ConsistencyRequestMessageSchema>;
export type UnmaskRequestMessage = z.infer<typeof UnmaskRequestMessageSchema>;

/**
 * Bytes a message costs on a socket.io connection: its binary envelope (shared/protocol/envelope.ts),
 * the one attachment it travels as, give or take socket.io's few bytes of framing.
 */
export function wireBytes(message: unknown): number {
  return encodeEnvelope(message).byteLength;
}
