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
      message: 'must be binary (Uint8Array or ArrayBuffer)',
    })
    .transform((b): Uint8Array => (b instanceof ArrayBuffer ? new Uint8Array(b) : b))
    .refine((b) => length === undefined || b.length === length, { message: `must be ${length} bytes` });
}

const ClientId = z.string().min(1).max(128);
const Round = z.number().int().nonnegative();

/** Everything both sides must agree on before the round's first message. */
export const SecAggSetup = z.strictObject({
  round: Round,
  /** Fresh coordinator randomness per attempt: seeds the graph, and binds signatures to this attempt. */
  nonce: bytes(32),
  participants: z.array(z.strictObject({ id: ClientId, identityKey: bytes(32) })).min(3),
  k: z.number().int(),
  threshold: z.number().int(),
  vectorLength: z.number().int().positive(),
  clip: z.number().positive().finite(),
  maxWeight: z.number().int().positive(),
  /** Value words in Z_2^16 (2 bytes each on the wire) instead of Z_2^32; see encoding.ts. */
  wordBits: z.literal(16).optional(),
});
export type SecAggSetup = z.infer<typeof SecAggSetup>;

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

const Signature = bytes(64);

// ---------- client -> coordinator ----------

export const AdvertiseKeysMessage = z.strictObject({
  type: z.literal('secagg/advertise'),
  round: Round,
  ...AdvertisedKeysFields,
});

export const ShareKeysMessage = z.strictObject({
  type: z.literal('secagg/share-keys'),
  round: Round,
  shares: z.array(z.strictObject({ to: ClientId, sealed: bytes() })),
});

export const MaskedInputMessage = z.strictObject({
  type: z.literal('secagg/masked-input'),
  round: Round,
  /** m + 1 little-endian uint32 words. */
  masked: bytes(),
});

/** A consistency-round signature over (round, nonce, digest, survivors) by the client it names. */
export const ConsistencyMessage = z.strictObject({
  type: z.literal('secagg/consistency'),
  round: Round,
  signature: Signature,
});

/** A revealed share, with the hashes leading to its dealer's signed share root, so that a forged one is pinned on whoever revealed it. */
const RevealedShare = z.strictObject({ of: ClientId, share: bytes(), proof: bytes() });

export const UnmaskMessage = z.strictObject({
  type: z.literal('secagg/unmask'),
  round: Round,
  /** Shares of the self-mask seeds of neighbours that survived. */
  selfMaskShares: z.array(RevealedShare),
  /** Shares of the masking secret keys of neighbours that dropped. */
  maskingKeyShares: z.array(RevealedShare),
});

/** A client that refuses to go on (tampered key, coordinator misbehaving) says why. */
export const RefusalMessage = z.strictObject({
  type: z.literal('secagg/refusal'),
  round: Round,
  reason: z.string().max(1000),
});

export const SecAggClientMessage = z.discriminatedUnion('type', [
  AdvertiseKeysMessage,
  ShareKeysMessage,
  MaskedInputMessage,
  ConsistencyMessage,
  UnmaskMessage,
  RefusalMessage,
]);
export type SecAggClientMessage = z.infer<typeof SecAggClientMessage>;
export type AdvertiseKeysMessage = z.infer<typeof AdvertiseKeysMessage>;
export type ShareKeysMessage = z.infer<typeof ShareKeysMessage>;
export type MaskedInputMessage = z.infer<typeof MaskedInputMessage>;
export type ConsistencyMessage = z.infer<typeof ConsistencyMessage>;
export type UnmaskMessage = z.infer<typeof UnmaskMessage>;
export type RefusalMessage = z.infer<typeof RefusalMessage>;

// ---------- coordinator -> client ----------

export const PeerKeysMessage = z.strictObject({
  type: z.literal('secagg/peer-keys'),
  round: Round,
  peers: z.array(z.strictObject({ id: ClientId, ...AdvertisedKeysFields })),
});

export const RoutedSharesMessage = z.strictObject({
  type: z.literal('secagg/routed-shares'),
  round: Round,
  shares: z.array(z.strictObject({ from: ClientId, sealed: bytes() })),
});

/** Every client whose masked input is in the sum; each signs this list once, in the consistency round. */
const Survivors = z.array(ClientId);

export const ConsistencyRequestMessage = z.strictObject({
  type: z.literal('secagg/consistency-request'),
  round: Round,
  survivors: Survivors,
});

export const UnmaskRequestMessage = z.strictObject({
  type: z.literal('secagg/unmask-request'),
  round: Round,
  survivors: Survivors,
  /** The recipient's neighbours' consistency signatures on the same list. */
  signatures: z.array(z.strictObject({ id: ClientId, signature: Signature })),
});

export const SecAggServerMessage = z.discriminatedUnion('type', [
  PeerKeysMessage,
  RoutedSharesMessage,
  ConsistencyRequestMessage,
  UnmaskRequestMessage,
]);
export type SecAggServerMessage = z.infer<typeof SecAggServerMessage>;
export type PeerKeysMessage = z.infer<typeof PeerKeysMessage>;
export type RoutedSharesMessage = z.infer<typeof RoutedSharesMessage>;
export type ConsistencyRequestMessage = z.infer<typeof ConsistencyRequestMessage>;
export type UnmaskRequestMessage = z.infer<typeof UnmaskRequestMessage>;

/**
 * Bytes a message costs on a socket.io connection: its binary envelope (shared/protocol/envelope.ts),
 * the one attachment it travels as, give or take socket.io's few bytes of framing.
 */
export function wireBytes(message: unknown): number {
  return encodeEnvelope(message).byteLength;
}
