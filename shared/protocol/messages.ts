import { z } from 'zod';
import { UpdateCodecSpecSchema } from '../compression/codec-spec.js';
import { ClientDpInstructionsSchema } from '../privacy/client-privatize.js';
import { SecAggSetupSchema } from '../secagg/messages.js';
import { IdentityKeyTextSchema, SecureTrainSectionSchema } from './secagg-messages.js';

/**
 * Every message between coordinator and clients, as zod schemas: the coordinator validates what
 * clients send, clients validate what the coordinator sends. Weight vectors never appear here:
 * they travel as a separate binary attachment next to the JSON part (see weights-codec.ts).
 * Messages with a variable number of byte fields (`train`, `secagg`) travel as one binary
 * envelope (envelope.ts) instead of JSON, decoded before their schema runs. Which event carries
 * which message: events.ts. Each schema is `FooSchema`, its parsed type `Foo`.
 */

/**
 * Bumped on any incompatible change; a client speaking another version is refused at join.
 * 2: `train` and `secagg` in envelopes. 3: the key advertisement is `secagg/advertise-keys`, as its stage.
 * 4: secure federated evaluation (`secure-evaluate`, `secagg-evaluation`).
 */
export const PROTOCOL_VERSION = 4;

export const ErrorCodeSchema = z.enum([
  'unauthorized',
  'unsupported-protocol',
  'invalid-message',
  'not-binary',
  'wrong-length',
  'not-finite',
  /** A compressed update whose scales, levels or index map are invalid (shared/compression). */
  'bad-encoding',
  /** The update is not encoded with the codec the round's training task announced. */
  'wrong-codec',
  'stale-round',
  'not-selected',
  'duplicate-update',
  /** The update's L2 norm is far outside the allowed range (server/round/update-norm.ts); its sender is out of the round. */
  'norm-too-large',
  /** Another connection joined with this client's name; this one is closed. */
  'replaced',
]);
export type ErrorCode = z.infer<typeof ErrorCodeSchema>;

const count = z.number().int().nonnegative();

/**
 * Bounds on every number a client reports. Sums over a round (examples, example-weighted loss)
 * must stay exact and finite, and the round log must read back what was written: counts are safe
 * integers whose sum stays exact for thousands of clients at the cap, metrics are finite and small
 * enough that example-weighted sums cannot overflow.
 */
export const CLIENT_LIMITS = {
  /** Round numbers a client may name. */
  maxRound: 1e9,
  /** Training or held-out examples one client may claim. */
  maxExamples: 1e9,
  /** Largest |loss| (some Keras losses, e.g. cosineProximity, are negative). */
  maxAbsLoss: 1e9,
  /** Largest reported duration of local training or evaluation: about 11.6 days. */
  maxDurationMs: 1e9,
  /** Largest |clip indicator|: +-0.5 plus Gaussian noise in distributed mode, far below this. */
  maxAbsClipIndicator: 1e6,
} as const;

const roundNumber = z.number().int().positive().max(CLIENT_LIMITS.maxRound);
/** The most classes a client's confusion matrix may have. */
const MAX_CLASSES = 1000;
const exampleCount = z.number().int().positive().max(CLIENT_LIMITS.maxExamples);
const loss = z.number().min(-CLIENT_LIMITS.maxAbsLoss).max(CLIENT_LIMITS.maxAbsLoss);
const accuracy = z.number().min(0).max(1);
const durationMs = z.number().nonnegative().max(CLIENT_LIMITS.maxDurationMs);

export const TrainConfigSchema = z.strictObject({
  epochs: z.number().int().min(1).max(1000),
  batchSize: z.number().int().min(1).max(100_000),
  learningRate: z.number().positive().max(100),
  optimizer: z.enum(['sgd', 'adam']),
  proximalMu: z.number().nonnegative().max(1e6).optional(),
  seed: z.number().int().optional(),
});

export const WeightSpecSchema = z.strictObject({
  name: z.string().min(1),
  shape: z.array(z.number().int().nonnegative()),
});

// ---------- client -> coordinator ----------

/** socket.io handshake `auth` payload. */
export const JoinAuthSchema = z.strictObject({
  token: z.string().min(1, 'a join token is required'),
  protocolVersion: z.number().int(),
  name: z
    .string()
    .min(1)
    .max(64)
    .regex(/^[\w.@:-]+$/, 'name may use letters, digits and . _ @ : -')
    .optional(),
  /** The client holds a held-out split and answers `evaluate` requests (federated evaluation). */
  canEvaluate: z.boolean().optional(),
  /** Ed25519 public key that signs this client's secure-aggregation keys; required when secure aggregation is on. */
  identityKey: IdentityKeyTextSchema.optional(),
});
export type JoinAuth = z.infer<typeof JoinAuthSchema>;

/** JSON part of an update; the weight delta (local - global) is the binary attachment. */
export const UpdateMetaSchema = z.strictObject({
  round: roundNumber,
  numExamples: exampleCount,
  metrics: z.strictObject({ loss, accuracy }),
  trainMs: durationMs,
  /** Differential privacy with adaptive clipping: this client's (noised, in distributed mode) clip indicator. */
  clipIndicator: z.number().min(-CLIENT_LIMITS.maxAbsClipIndicator).max(CLIENT_LIMITS.maxAbsClipIndicator).optional(),
  /** How the attachment is encoded (shared/compression); float32 when absent. Must be the codec the task announced. */
  codec: UpdateCodecSpecSchema.optional(),
});
export type UpdateMeta = z.infer<typeof UpdateMetaSchema>;

/** A client's answer to `evaluate`: its metrics, or null when it holds no held-out data. */
export const EvaluationReportSchema = z.strictObject({
  round: roundNumber,
  metrics: z
    .strictObject({
      loss,
      accuracy,
      numExamples: exampleCount,
      /** confusion[true][predicted] over the held-out examples; its counts add up to numExamples. */
      confusion: z
        .array(z.array(z.number().int().nonnegative().max(CLIENT_LIMITS.maxExamples)).max(MAX_CLASSES))
        .min(1)
        .max(MAX_CLASSES)
        .optional(),
    })
    .refine((m) => m.confusion === undefined || m.confusion.every((row) => row.length === m.confusion!.length), {
      error: 'the confusion matrix must be square',
      path: ['confusion'],
    })
    .refine((m) => m.confusion === undefined || m.confusion.flat().reduce((a, b) => a + b, 0) === m.numExamples, {
      error: 'the confusion matrix counts must add up to numExamples',
      path: ['confusion'],
    })
    .nullable(),
  evalMs: durationMs,
});
export type EvaluationReport = z.infer<typeof EvaluationReportSchema>;

// ---------- coordinator -> client ----------

export const TaskInfoSchema = z.strictObject({
  name: z.string().min(1),
  inputShape: z.array(z.number().int().positive()).min(1),
  numClasses: z.number().int().min(2),
  parameterCount: z.number().int().positive(),
});
export type TaskInfo = z.infer<typeof TaskInfoSchema>;

export const WelcomeSchema = z.strictObject({
  clientId: z.string().min(1),
  task: TaskInfoSchema,
  /** tfjs Layers model topology (model.toJSON()) so any model can be trained, not just the seed CNN. */
  modelTopology: z.record(z.string(), z.unknown()),
  weightSpecs: z.array(WeightSpecSchema),
  version: count,
  round: count,
});
export type Welcome = z.infer<typeof WelcomeSchema>;

/** A training task, sent in an envelope (its secure section holds byte fields); the global weights are the other attachment. */
export const TrainTaskSchema = z.strictObject({
  round: z.number().int().positive(),
  version: count,
  config: TrainConfigSchema,
  /** Time left to send the update, relative so that clocks need not agree. */
  timeoutMs: z.number().int().positive(),
  /** Differential privacy: how to clip (and, in distributed mode, noise) the update before sending it. */
  privacy: ClientDpInstructionsSchema.optional(),
  /** Secure aggregation: the round's SecAgg+ setup; the update then goes out masked, on the `secagg` event. */
  secureAggregation: SecureTrainSectionSchema.optional(),
  /** How to encode the update (shared/compression); float32 when absent. */
  compression: UpdateCodecSpecSchema.optional(),
});
export type TrainTask = z.infer<typeof TrainTaskSchema>;

/** JSON part of an evaluation request; the weights to score are the binary attachment. */
export const EvaluateTaskSchema = z.strictObject({
  round: z.number().int().positive(),
  /** The version these weights are committed as. */
  version: count,
  timeoutMs: z.number().int().positive(),
});
export type EvaluateTask = z.infer<typeof EvaluateTaskSchema>;

/**
 * An evaluation request under secure aggregation, sent in an envelope (its setup holds byte
 * fields): the client scores the weights (the other attachment) and its confusion matrix and loss
 * go into a SecAgg+ session of their own, on the `secagg-evaluation` event; nothing is reported
 * in the clear. The setup's encoding is fixed by its participant count (shared/aggregation/secure-evaluation.ts).
 */
export const SecureEvaluateTaskSchema = z.strictObject({
  ...EvaluateTaskSchema.shape,
  secureAggregation: z.strictObject({ setup: SecAggSetupSchema }),
});
export type SecureEvaluateTask = z.infer<typeof SecureEvaluateTaskSchema>;

/** Privacy spent so far, sent with every closed round when differential privacy is on. */
export const PrivacySpentSummarySchema = z.strictObject({
  epsilon: z.number().nonnegative(),
  delta: z.number().gt(0).lt(1),
  targetEpsilon: z.number().positive(),
  /** Distributed mode: epsilon against the coordinator itself; null in central mode. */
  coordinatorEpsilon: z.number().nonnegative().nullable(),
});
export type PrivacySpentSummary = z.infer<typeof PrivacySpentSummarySchema>;

export const RoundClosedSchema = z.strictObject({
  round: z.number().int().positive(),
  outcome: z.enum(['committed', 'failed']),
  version: count,
  reason: z.string().optional(),
  privacy: PrivacySpentSummarySchema.optional(),
});
export type RoundClosed = z.infer<typeof RoundClosedSchema>;

export const RefusalSchema = z.strictObject({
  code: ErrorCodeSchema,
  message: z.string(),
  round: z.number().int().optional(),
});
export type Refusal = z.infer<typeof RefusalSchema>;

/** The coordinator's acknowledgement of every client message (update, evaluation, secagg): accepted, or refused with the reason. */
export const AckSchema = z.discriminatedUnion('ok', [
  z.strictObject({ ok: z.literal(true), round: z.number().int().positive() }),
  z.strictObject({
    ok: z.literal(false),
    code: ErrorCodeSchema,
    message: z.string(),
    round: z.number().int().optional(),
  }),
]);
export type Ack = z.infer<typeof AckSchema>;

// ---------- REST bodies ----------

export const StartRoundsBodySchema = z.strictObject({
  rounds: z.number().int().min(1).max(10_000),
});
export type StartRoundsBody = z.infer<typeof StartRoundsBodySchema>;

/** One line per problem, with the path of the offending field: what error replies carry. */
export function describeZodError(error: z.ZodError): string {
  return error.issues.map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message)).join('; ');
}
