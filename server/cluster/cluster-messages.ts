import { z } from 'zod';
import { UpdateCodecSpecSchema } from '../../shared/compression/codec-spec.js';
import { RoundClosedSchema, TrainTaskSchema } from '../../shared/protocol/messages.js';
import { ContributionSchema, RoundRecordSchema } from '../../shared/protocol/rounds.js';

/**
 * What cluster nodes tell each other over Redis pub/sub (cluster-bus.ts): a JSON header, checked
 * here, and for some kinds one float32 vector as the binary part.
 */

const id = z.string().min(1).max(256);
const round = z.int().positive();
const token = z.int().positive();

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
});

/** Node -> leader: the weighted mean of its clients' accepted updates (the binary part) and their total weight. */
export const PartialSchema = z.strictObject({
  kind: z.literal('partial'),
  round,
  token,
  node: id,
  contributions: z.array(ContributionSchema.extend({ clientId: id, numExamples: z.number().nonnegative() })),
  refused: z.array(z.strictObject({ clientId: id, reason: z.string() })),
  /** Sum of the contributions' example counts: the weight of the mean. */
  weight: z.number().nonnegative(),
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

/** Node -> leader: clients joined or left this node. */
export const ClientsChangedSchema = z.strictObject({
  kind: z.literal('clients'),
  node: id,
  /** With their socket.io connection ids. */
  joined: z.array(z.strictObject({ id, connection: id })),
  left: z.array(id),
});

/** Any node -> leader: POST /v1/rounds raised the target round. */
export const RoundsQueuedSchema = z.strictObject({ kind: z.literal('queued') });

export const ClusterMessageSchema = z.discriminatedUnion('kind', [
  RoundOpenSchema,
  PartialSchema,
  RoundClosedNoticeSchema,
  ClientsChangedSchema,
  RoundsQueuedSchema,
]);
export type ClusterMessage = z.infer<typeof ClusterMessageSchema>;
export type RoundOpen = z.infer<typeof RoundOpenSchema>;
export type Partial = z.infer<typeof PartialSchema>;

/** A message and its vector (round-open: the global weights; partial: the weighted mean). */
export interface Framed {
  message: ClusterMessage;
  vector?: Float32Array;
}

/** [u32 header length][header JSON][float32 vector]: one Redis message, one copy of the vector. */
export function encodeFrame({ message, vector }: Framed): Buffer {
  const header = Buffer.from(JSON.stringify(message), 'utf8');
  const out = Buffer.allocUnsafe(4 + header.byteLength + (vector?.byteLength ?? 0));
  out.writeUInt32LE(header.byteLength, 0);
  header.copy(out, 4);
  if (vector) Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength).copy(out, 4 + header.byteLength);
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
  if (rest % 4 !== 0) throw new Error(`cluster message vector of ${rest} bytes is not whole float32 values`);
  if (rest === 0) return { message: parsed.data };
  // Copied: the frame's offset need not be 4-byte aligned.
  const vector = new Float32Array(rest / 4);
  Buffer.from(vector.buffer).set(frame.subarray(4 + length));
  return { message: parsed.data, vector };
}
