import { z } from 'zod';
import { UpdateCodecSpecSchema } from '../../shared/compression/codec-spec.js';
import { CLIENT_LIMITS, RoundClosedSchema, TrainTaskSchema } from '../../shared/protocol/messages.js';
import { RoundRecordSchema } from '../../shared/protocol/rounds.js';
import { IdentityKeyTextSchema } from '../../shared/protocol/secagg-messages.js';

/**
 * What cluster nodes tell each other over Redis pub/sub (cluster-bus.ts): a JSON header, checked
 * here, and for some kinds one float32 vector as the binary part.
 */

const id = z.string().min(1).max(256);
const round = z.int().positive();
const token = z.int().positive();

/**
 * What a node forwards of its clients' validated updates: their example-weighted mean when the
 * round's aggregator is linear (FedAvg: the mean of the means, weighted, is the mean of all), else
 * every update, which a robust aggregator (median, trimmed mean, Krum, Bulyan) needs each of.
 */
export const ForwardedSchema = z.enum(['mean', 'updates']);
export type Forwarded = z.infer<typeof ForwardedSchema>;

/** What the leader needs its nodes to forward for an aggregator. */
export function forwardedFor(aggregator: { linear: boolean }): Forwarded {
  return aggregator.linear ? 'mean' : 'updates';
}

/** Leader -> every node: a round's training started; each node sends the task to its own participants. */
export const RoundOpenSchema = z.strictObject({
  kind: z.literal('round-open'),
  round,
  token,
  leader: id,
  participants: z.array(id),
  task: TrainTaskSchema,
  codec: UpdateCodecSpecSchema,
  normLimits: z.strictObject({ max: z.number().positive(), maxToMedian: z.number().min(1) }),
  /** When the node forwards its partial at the latest (ms since epoch), before the leader's deadline. */
  flushAt: z.number(),
  /** What the round's aggregator needs of each node's updates. */
  forwarded: ForwardedSchema,
});

/**
 * Node -> leader: its clients' accepted updates as the round open asked (`forwarded`): their
 * example-weighted mean as the binary part, whose size does not grow with clients, or every update
 * end to end, each with its example count in `weights`; and what the round record needs of them,
 * summed on the node. Client ids stay on the node either way.
 */
export const PartialSchema = z.strictObject({
  kind: z.literal('partial'),
  round,
  token,
  node: id,
  forwarded: ForwardedSchema,
  /** Clients whose update is in the partial. */
  contributors: z.int().nonnegative(),
  /** With forwarded 'updates': each update's example count, in the binary part's order (checked by the leader). */
  weights: z.array(z.int()).optional(),
  /** Sum of the contributors' example counts: the weight of the partial. */
  weight: z.int().nonnegative(),
  /** Example-weighted mean of the contributors' training loss and accuracy (absent without contributors). */
  loss: z.number().min(-CLIENT_LIMITS.maxAbsLoss).max(CLIENT_LIMITS.maxAbsLoss).optional(),
  accuracy: z.number().min(0).max(1).optional(),
  /** Participants of the node whose update it refused as unusable (their reasons stay on the node). */
  refused: z.int().nonnegative(),
  /** Bytes of the clients' updates this partial stands for (as they arrived). */
  updateBytes: z.int().nonnegative(),
});

/** Leader -> every node: a round closed; nodes tell their participants, followers record it. */
export const RoundClosedNoticeSchema = z.strictObject({
  kind: z.literal('round-closed'),
  round,
  token,
  record: RoundRecordSchema,
  closed: RoundClosedSchema,
});

/** A client of a node: its socket.io connection id, and the identity key it registered at join (secure aggregation). */
export const ConnectedClientSchema = z.strictObject({
  id,
  connection: id,
  identityKey: IdentityKeyTextSchema.optional(),
});

/** Node -> leader: clients joined or left this node. */
export const ClientsChangedSchema = z.strictObject({
  kind: z.literal('clients'),
  node: id,
  joined: z.array(ConnectedClientSchema),
  left: z.array(id),
});

/**
 * Leader -> node `node` (on the channel every node hears): the round's protocol messages for that
 * node's clients (a secure round's training task, SecAgg+ stage messages); the binary part is their
 * envelope (secure-relay.ts). Other nodes skip it by its header.
 */
export const RelaySchema = z.strictObject({
  kind: z.literal('relay'),
  round,
  token,
  node: id,
  to: z.array(id).min(1),
});

/** Node -> leader: a client's SecAgg+ message, as the node received it; the binary part is its envelope. */
export const SecAggForwardSchema = z.strictObject({
  kind: z.literal('secagg-forward'),
  round,
  token,
  node: id,
  clientId: id,
});

/** Node -> leader: its clients' masked inputs added up mod 2^32; the binary part is the sum's words (little-endian u32). */
export const MaskedPartialSchema = z.strictObject({
  kind: z.literal('masked-partial'),
  round,
  token,
  node: id,
  clientIds: z.array(id).min(1),
  /** Bytes of the masked inputs this partial stands for (as they arrived). */
  updateBytes: z.int().nonnegative(),
});

/** Any node -> leader: POST /v1/rounds raised the target round. */
export const RoundsQueuedSchema = z.strictObject({ kind: z.literal('queued') });

export const ClusterMessageSchema = z.discriminatedUnion('kind', [
  RoundOpenSchema,
  PartialSchema,
  RoundClosedNoticeSchema,
  ClientsChangedSchema,
  RoundsQueuedSchema,
  RelaySchema,
  SecAggForwardSchema,
  MaskedPartialSchema,
]);
export type ClusterMessage = z.infer<typeof ClusterMessageSchema>;
export type RoundOpen = z.infer<typeof RoundOpenSchema>;
export type Partial = z.infer<typeof PartialSchema>;
export type ConnectedClient = z.infer<typeof ConnectedClientSchema>;
export type Relay = z.infer<typeof RelaySchema>;
export type SecAggForward = z.infer<typeof SecAggForwardSchema>;
export type MaskedPartial = z.infer<typeof MaskedPartialSchema>;

/** Kinds whose binary part is opaque bytes (an envelope, masked words) rather than a float32 vector. */
const BYTE_KINDS: ReadonlySet<ClusterMessage['kind']> = new Set(['relay', 'secagg-forward', 'masked-partial']);

/**
 * A message and its binary part: a float32 vector (round-open: the global weights; partial: the
 * weighted mean or the updates end to end), or bytes for the kinds in BYTE_KINDS.
 */
export interface Framed {
  message: ClusterMessage;
  vector?: Float32Array;
  bytes?: Uint8Array;
}

/** [u32 header length][header JSON][binary part]: one Redis message, one copy of the binary part. */
export function encodeFrame({ message, vector, bytes }: Framed): Buffer {
  const header = Buffer.from(JSON.stringify(message), 'utf8');
  const body = vector ? new Uint8Array(vector.buffer, vector.byteOffset, vector.byteLength) : bytes;
  if (body && BYTE_KINDS.has(message.kind) !== (bytes !== undefined))
    throw new Error(`a ${message.kind} message carries ${BYTE_KINDS.has(message.kind) ? 'bytes' : 'a float32 vector'}`);
  const out = Buffer.allocUnsafe(4 + header.byteLength + (body?.byteLength ?? 0));
  out.writeUInt32LE(header.byteLength, 0);
  header.copy(out, 4);
  if (body) out.set(body, 4 + header.byteLength);
  return out;
}

/** Decodes and checks a frame; throws naming what is wrong. */
export function decodeFrame(frame: Buffer): Framed {
  if (frame.byteLength < 4) throw new Error(`cluster message of ${frame.byteLength} bytes has no header`);
  const length = frame.readUInt32LE(0);
  if (4 + length > frame.byteLength) throw new Error(`cluster message header of ${length} bytes overruns the frame`);
  let raw: unknown;
  try {
    raw = JSON.parse(frame.toString('utf8', 4, 4 + length));
  } catch {
    throw new Error('cluster message header is not JSON');
  }
  const parsed = ClusterMessageSchema.safeParse(raw);
  if (!parsed.success) throw new Error(`invalid cluster message: ${z.prettifyError(parsed.error)}`);
  const rest = frame.byteLength - 4 - length;
  if (BYTE_KINDS.has(parsed.data.kind))
    return rest === 0
      ? { message: parsed.data }
      : { message: parsed.data, bytes: new Uint8Array(frame.subarray(4 + length)) };
  if (rest % 4 !== 0) throw new Error(`cluster message vector of ${rest} bytes is not whole float32 values`);
  if (rest === 0) return { message: parsed.data };
  // Copied: the frame's offset need not be 4-byte aligned.
  const vector = new Float32Array(rest / 4);
  Buffer.from(vector.buffer).set(frame.subarray(4 + length));
  return { message: parsed.data, vector };
}
