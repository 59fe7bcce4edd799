import { z } from 'zod';
import { SecAggSetupSchema } from '../secagg/messages.js';
import type { ActivePhase } from '../secagg/server.js';

/**
 * What secure aggregation adds to the coordinator-client protocol: the section of a training task
 * that starts a SecAgg+ round, the identity key a client registers at join, and the round
 * record's secure-aggregation section. The SecAgg+ messages themselves (shared/secagg/messages.ts)
 * travel on the `secagg` event, in both directions, each as one binary envelope (envelope.ts).
 */

/**
 * Values a client sums securely after its model delta, so the coordinator learns only their
 * (weighted) mean: its training loss and accuracy, its example count (when every client weighs
 * the same, for differential privacy) and its clip indicator (adaptive clipping).
 */
export const SECURE_SLOT_KINDS = ['loss', 'accuracy', 'examples', 'clip-indicator'] as const;
export type SecureSlotKind = (typeof SECURE_SLOT_KINDS)[number];

/** One extra value: |value| <= range is encoded into [-clip, clip], beyond is clipped. */
export const SecureSlotSchema = z.strictObject({
  kind: z.enum(SECURE_SLOT_KINDS),
  range: z.number().positive(),
});
export type SecureSlot = z.infer<typeof SecureSlotSchema>;

/** The `secureAggregation` section of a training task. */
export const SecureTrainSectionSchema = z.strictObject({
  setup: SecAggSetupSchema,
  /** The extra values after the model delta, in this order: the vector is delta ++ slots. */
  slots: z.array(SecureSlotSchema).refine((slots) => new Set(slots.map((s) => s.kind)).size === slots.length, {
    error: 'slot kinds must be unique',
  }),
});
export type SecureTrainSection = z.infer<typeof SecureTrainSectionSchema>;

// ---------- identity keys in the join handshake (JSON, so base64url) ----------

/** A 32-byte Ed25519 public key as unpadded base64url: 43 characters. */
export const IdentityKeyTextSchema = z
  .string()
  .regex(/^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/, 'must be a 32-byte Ed25519 public key in unpadded base64url');

export function identityKeyToText(key: Uint8Array): string {
  if (key.length !== 32) throw new Error(`an identity key has 32 bytes, got ${key.length}`);
  return btoa(String.fromCharCode(...key))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '');
}

export function identityKeyFromText(text: string): Uint8Array {
  const parsed = IdentityKeyTextSchema.safeParse(text);
  if (!parsed.success) throw new Error(`identity key: ${parsed.error.issues[0].message}`);
  const binary = atob(text.replace(/-/g, '+').replace(/_/g, '/'));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

// ---------- the round record ----------

/** The secure round's stages in order: the SecAgg+ state machine's phases, under the same names. */
export const SECURE_STAGES = [
  'advertise-keys',
  'share-keys',
  'masked-input',
  'consistency',
  'unmask',
] as const satisfies readonly ActivePhase[];
export type SecureStage = (typeof SECURE_STAGES)[number];

/** A participant that left a secure round: at which stage, and why when it refused rather than vanished. */
export const SecureDropoutSchema = z.object({
  clientId: z.string(),
  stage: z.enum(SECURE_STAGES),
  reason: z.string().optional(),
});

/** The secure-aggregation section of a round record (GET /v1/rounds, the round log, checkpoints). */
export const SecureAggregationRecordSchema = z.object({
  /** Neighbours per client in the round's graph, and the Shamir threshold. */
  k: z.number().int(),
  threshold: z.number().int(),
  /** Per-coordinate clip range of the model delta. */
  clip: z.number(),
  /** Example counts above this are capped; 1 means every client weighs the same (differential privacy). */
  maxWeight: z.number().int(),
  /** 16: the masked value words were 16 bits (int8 compression); 32 when absent. */
  wordBits: z.literal(16).optional(),
  /** Stage reached: the running one, or the last one entered. */
  stage: z.enum(SECURE_STAGES),
  /** Milliseconds spent in each stage. */
  stageMs: z.record(z.string(), z.number().nonnegative()),
  /** Clients whose masked input is in the sum (set once the masked-input stage closed). */
  survivors: z.array(z.string()),
  dropouts: z.array(SecureDropoutSchema),
  /** Bound on |secure mean - exact weighted mean| per coordinate of the model delta. */
  errorBound: z.number().nonnegative().optional(),
  /** An aborted round: the client caught misbehaving (a share its author never signed, or bad shares dealt). */
  culprit: z.string().optional(),
});
export type SecureAggregationRecord = z.infer<typeof SecureAggregationRecordSchema>;
