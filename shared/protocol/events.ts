import { z } from 'zod';
import type { SecAggClientMessageSchema, SecAggServerMessageSchema } from '../secagg/messages.js';
import { decodeEnvelope, EnvelopeError, type Envelope } from './envelope.js';
import type {
  Ack,
  EvaluateTaskSchema,
  EvaluationReportSchema,
  JoinAuth,
  RefusalSchema,
  RoundClosedSchema,
  SecureEvaluateTaskSchema,
  TrainTaskSchema,
  UpdateMetaSchema,
  WelcomeSchema,
} from './messages.js';

/**
 * The socket.io wire contract between coordinator and clients: every event name, once, and the
 * arguments each event carries, derived from the message schemas (messages.ts). Both sides
 * parameterize their sockets with these maps, so an emit with the wrong event or payload does not
 * compile. The maps say what an honest peer sends; neither side trusts them for what it receives:
 * the coordinator validates every client message and a client every coordinator message with
 * the schemas, since either side may be hostile.
 */

/** socket.io event names, one per message type. */
export const EVENTS = {
  welcome: 'welcome',
  train: 'train',
  roundClosed: 'round-closed',
  refused: 'refused',
  update: 'update',
  /** Coordinator -> client: score these (candidate global) weights on your held-out split. */
  evaluate: 'evaluate',
  /** Client -> coordinator: the result of an `evaluate` request. */
  evaluation: 'evaluation',
  /** Both ways: a secure-aggregation stage message (shared/secagg/messages.ts); the coordinator acknowledges. */
  secagg: 'secagg',
  /** Coordinator -> client: evaluate these weights inside a SecAgg+ session of their own (secure aggregation on). */
  secureEvaluate: 'secure-evaluate',
  /**
   * Both ways: a stage message of a secure evaluation session. An event apart from `secagg`, so
   * that the training and evaluation sessions of one round can never be routed into each other.
   */
  secaggEvaluation: 'secagg-evaluation',
} as const;

/** The events a client sends; the coordinator acknowledges each of them and refuses any other. */
export const CLIENT_EVENTS = [EVENTS.update, EVENTS.evaluation, EVENTS.secagg, EVENTS.secaggEvaluation] as const;
export type ClientEvent = (typeof CLIENT_EVENTS)[number];

/** Encoded weights or an encoded update (weights-codec.ts, shared/compression): the binary attachment. */
export type WeightsPayload = ArrayBuffer | Uint8Array;

/** The coordinator's answer to every client message; the last argument of each client event. */
export type AckCallback = (ack: Ack) => void;

export type ServerToClientEvents = {
  [EVENTS.welcome]: (welcome: z.input<typeof WelcomeSchema>) => void;
  [EVENTS.train]: (task: Envelope<z.input<typeof TrainTaskSchema>>, globalWeights: WeightsPayload) => void;
  [EVENTS.evaluate]: (task: z.input<typeof EvaluateTaskSchema>, weights: WeightsPayload) => void;
  [EVENTS.roundClosed]: (closed: z.input<typeof RoundClosedSchema>) => void;
  [EVENTS.secagg]: (message: Envelope<z.input<typeof SecAggServerMessageSchema>>) => void;
  [EVENTS.secureEvaluate]: (task: Envelope<z.input<typeof SecureEvaluateTaskSchema>>, weights: WeightsPayload) => void;
  [EVENTS.secaggEvaluation]: (message: Envelope<z.input<typeof SecAggServerMessageSchema>>) => void;
  [EVENTS.refused]: (refusal: z.input<typeof RefusalSchema>) => void;
};

export type ClientToServerEvents = {
  [EVENTS.update]: (meta: z.input<typeof UpdateMetaSchema>, delta: WeightsPayload, ack: AckCallback) => void;
  [EVENTS.evaluation]: (report: z.input<typeof EvaluationReportSchema>, ack: AckCallback) => void;
  [EVENTS.secagg]: (message: Envelope<z.input<typeof SecAggClientMessageSchema>>, ack: AckCallback) => void;
  [EVENTS.secaggEvaluation]: (message: Envelope<z.input<typeof SecAggClientMessageSchema>>, ack: AckCallback) => void;
};

/** What the coordinator keeps per connection: the join its handshake was admitted with. */
export interface SocketData {
  join: JoinAuth;
}

/** The arguments of client event `E` before its acknowledgement callback. */
export type ClientEventArgs<E extends ClientEvent> =
  Parameters<ClientToServerEvents[E]> extends [...infer Args, AckCallback] ? Args : never;

/**
 * A binary envelope (envelope.ts) holding a message of `schema`: decodes it, validates the
 * message and yields it with the envelope's size on the wire. A malformed envelope is an issue
 * like any other, named by the envelope decoder.
 */
export function envelopeSchema<T>(schema: z.ZodType<T>) {
  return z.unknown().transform((payload, ctx): { message: T; bytes: number } => {
    let body: unknown;
    try {
      body = decodeEnvelope(payload);
    } catch (e) {
      if (!(e instanceof EnvelopeError)) throw e;
      ctx.addIssue({ code: 'custom', message: e.message });
      return z.NEVER;
    }
    const parsed = schema.safeParse(body);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) ctx.addIssue({ ...issue, code: 'custom', path: issue.path });
      return z.NEVER;
    }
    // decodeEnvelope accepted it, so it is binary: its length is what crossed the wire.
    return { message: parsed.data, bytes: (payload as ArrayBuffer | Uint8Array).byteLength };
  });
}
