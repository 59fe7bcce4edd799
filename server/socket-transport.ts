import type { Server as HttpServer } from 'node:http';
import { Server, type ServerOptions } from 'socket.io';
import { z } from 'zod';
import {
  describeZodError,
  EvaluationReportSchema,
  JoinAuthSchema,
  PROTOCOL_VERSION,
  UpdateMetaSchema,
  type ErrorCode,
  type JoinAuth,
  type SecureEvaluateTask,
  type TrainTask,
} from '../shared/protocol/messages.js';
import { encodeEnvelope, type Envelope } from '../shared/protocol/envelope.js';
import {
  envelopeSchema,
  EVENTS,
  type ClientToServerEvents,
  type ServerToClientEvents,
  type SocketData,
} from '../shared/protocol/events.js';
import { FLOAT32_CODEC, tensorSizes } from '../shared/compression/codec-spec.js';
import { decodeUpdate } from '../shared/compression/update-codec.js';
import { encodeWeights, payloadBytes, WeightPayloadError } from '../shared/protocol/weights-codec.js';
import { SecAggClientMessageSchema } from '../shared/secagg/messages.js';
import { tokenMatches } from './auth.js';
import {
  onValidated,
  refuse,
  refuseUnknownEvents,
  type CoordinatorServer,
  type NoServerSideEvents,
} from './client-events.js';
import type { ClientCredentials } from './client-credentials.js';
import type { ClientLink, Coordinator } from './coordinator.js';
import type { Logger } from './logger.js';

export interface SocketTransportOptions {
  /** The shared join token: any holder joins under any free name (not sybil-resistant). */
  joinToken: string;
  /** Per-client tokens instead: each admits only its own name, and the shared token is refused. */
  clientCredentials?: ClientCredentials;
  /** Refused messages are logged here, at warn. */
  logger: Logger;
  /** A further check of an authenticated join (secure aggregation: the identity key); a reason refuses it. */
  admit?: (join: JoinAuth) => string | undefined;
  /** A join was admitted under client id `id`. */
  onJoin?: (id: string, join: JoinAuth) => void;
  /** socket.io's heartbeat; default its own (ping every 25 s, 20 s to answer). */
  heartbeat?: Heartbeat;
  /** Cluster mode: socket.io's Redis adapter, so any node can reach a connection on another. */
  adapter?: ServerOptions['adapter'];
}

/** What the transport hands connections and messages to: the coordinator, or a cluster node in front of it. */
export type ClientSink = Pick<Coordinator, 'task' | 'join' | 'leave' | 'receive' | 'refuseUpdate' | 'countRefusal'>;

/**
 * How often the coordinator pings each connection, and how long an answer may take before the
 * connection counts as lost. A harness that hosts hundreds of clients in one busy process may
 * need longer than socket.io's 20 s; real devices answer at once.
 */
export interface Heartbeat {
  pingIntervalMs: number;
  pingTimeoutMs: number;
}

/** Room for the JSON part of a message and for base64 inflation when a client falls back to polling. */
const MESSAGE_OVERHEAD_BYTES = 64 * 1024;

/**
 * The largest inbound socket.io message: one weight vector (base64-inflated by 4/3 under HTTP
 * long-polling) plus headroom. Anything larger is refused by engine.io before it is parsed.
 */
export function maxMessageBytes(parameterCount: number): number {
  return Math.ceil((parameterCount * 4 * 4) / 3) + MESSAGE_OVERHEAD_BYTES;
}

/** The weights of an update are checked by its codec, which knows the round's sizes (decodeUpdate). */
const UPDATE_ARGS = {
  what: EVENTS.update,
  argNames: 'metadata, weights',
  args: z.tuple([UpdateMetaSchema, z.unknown()]),
};
const EVALUATION_ARGS = { what: EVENTS.evaluation, argNames: 'report', args: z.tuple([EvaluationReportSchema]) };
const SECAGG_ARGS = {
  what: `${EVENTS.secagg} message`,
  argNames: 'an envelope',
  args: z.tuple([envelopeSchema(SecAggClientMessageSchema)]),
};
const SECAGG_EVALUATION_ARGS = { ...SECAGG_ARGS, what: `${EVENTS.secaggEvaluation} message` };

function joinError(code: ErrorCode, message: string): Error {
  // socket.io hands `data` to the client's connect_error handler along with the message.
  return Object.assign(new Error(message), { data: { code } });
}

/**
 * socket.io on the coordinator's HTTP server: authenticates joins, validates every inbound
 * message (zod for the JSON part, weights-codec for the binary part) and forwards it to the
 * coordinator; acknowledges every client message, with the reason when it is refused. Messages with a
 * variable number of byte fields (`train`, `secagg`) travel as one binary envelope (envelope.ts),
 * since socket.io refuses packets with more than 10 binary attachments.
 */
export function attachSocketTransport(
  http: HttpServer,
  coordinator: ClientSink,
  opts: SocketTransportOptions,
): CoordinatorServer {
  const parameterCount = coordinator.task.info.parameterCount;
  const sizes = tensorSizes(coordinator.task.weightSpecs);
  const heartbeat = opts.heartbeat
    ? { pingInterval: opts.heartbeat.pingIntervalMs, pingTimeout: opts.heartbeat.pingTimeoutMs }
    : {};
  const io = new Server<ClientToServerEvents, ServerToClientEvents, NoServerSideEvents, SocketData>(http, {
    maxHttpBufferSize: maxMessageBytes(parameterCount),
    serveClient: false,
    ...heartbeat,
    ...(opts.adapter ? { adapter: opts.adapter } : {}),
  });
  // Encoded once per global-weights array, not once per participant.
  const encoded = new WeakMap<Float32Array, ArrayBuffer>();
  const encode = (w: Float32Array) => {
    let buf = encoded.get(w);
    if (!buf) encoded.set(w, (buf = encodeWeights(w)));
    return buf;
  };
  // A round's training task (or secure evaluation request) is one object for all participants:
  // with a roster of n identity keys, encoding it per participant would cost O(n^2).
  const envelopes = new WeakMap<object, Envelope<unknown>>();
  const envelopeOf = <T extends TrainTask | SecureEvaluateTask>(body: T): Envelope<T> => {
    let buf = envelopes.get(body) as Envelope<T> | undefined;
    if (!buf) envelopes.set(body, (buf = encodeEnvelope(body)));
    return buf;
  };

  io.use((socket, next) => {
    const parsed = JoinAuthSchema.safeParse(socket.handshake.auth);
    if (!parsed.success) {
      const missingToken = !(socket.handshake.auth as { token?: unknown } | undefined)?.token;
      next(
        missingToken
          ? joinError('unauthorized', 'a join token is required (client --token or FEDSERVE_JOIN_TOKEN)')
          : joinError('invalid-message', `invalid join request: ${describeZodError(parsed.error)}`),
      );
      return;
    }
    if (opts.clientCredentials) {
      const refusal = opts.clientCredentials.refusal(parsed.data.name, parsed.data.token);
      if (refusal) {
        next(joinError('unauthorized', refusal));
        return;
      }
    } else if (!tokenMatches(parsed.data.token, opts.joinToken)) {
      next(joinError('unauthorized', 'wrong join token'));
      return;
    }
    if (parsed.data.protocolVersion !== PROTOCOL_VERSION) {
      next(
        joinError(
          'unsupported-protocol',
          `client speaks protocol ${parsed.data.protocolVersion}, this coordinator speaks ${PROTOCOL_VERSION}`,
        ),
      );
      return;
    }
    const refusal = opts.admit?.(parsed.data);
    if (refusal) {
      next(joinError('unauthorized', refusal));
      return;
    }
    socket.data.join = parsed.data;
    next();
  });

  io.on('connection', (socket) => {
    const { join } = socket.data;
    const link: ClientLink = {
      id: join.name ?? `client-${socket.id.slice(0, 8)}`,
      connection: socket.id,
      canEvaluate: join.canEvaluate === true,
      send: (message) => {
        switch (message.event) {
          case EVENTS.train:
            socket.emit(EVENTS.train, envelopeOf(message.body), encode(message.weights));
            break;
          case EVENTS.welcome:
            socket.emit(EVENTS.welcome, message.body);
            break;
          case EVENTS.roundClosed:
            socket.emit(EVENTS.roundClosed, message.body);
            break;
          case EVENTS.evaluate:
            socket.emit(EVENTS.evaluate, message.body, encode(message.weights));
            break;
          case EVENTS.secagg:
            socket.emit(EVENTS.secagg, encodeEnvelope(message.body));
            break;
          case EVENTS.secureEvaluate:
            socket.emit(EVENTS.secureEvaluate, envelopeOf(message.body), encode(message.weights));
            break;
          case EVENTS.secaggEvaluation:
            socket.emit(EVENTS.secaggEvaluation, encodeEnvelope(message.body));
            break;
          default: {
            const never: never = message;
            throw new Error(`unknown outbound message ${JSON.stringify(never)}`);
          }
        }
      },
      close: (reason) => {
        refuse(socket, { code: 'replaced', message: reason });
        socket.disconnect(true);
      },
    };
    socket.on('disconnect', () => coordinator.leave(link));

    const logRefusal = (what: string, message: string) =>
      opts.logger.warn({ clientId: link.id }, `refused ${what} from ${link.id}: ${message}`);
    onValidated(
      socket,
      EVENTS.update,
      UPDATE_ARGS,
      ([meta, payload]) => {
        let delta: Float32Array;
        try {
          // The codec the update says it uses; the round refuses it if that is not the one it announced.
          delta = decodeUpdate(payload, meta.codec ?? FLOAT32_CODEC, sizes);
        } catch (e) {
          if (!(e instanceof WeightPayloadError)) throw e;
          coordinator.refuseUpdate(link.id, meta.round, `${e.code}: ${e.message}`);
          logRefusal('update', e.message);
          return { ok: false, code: e.code, message: e.message, round: meta.round };
        }
        const verdict = coordinator.receive(link.id, {
          kind: 'update',
          meta,
          delta,
          bytes: payloadBytes(payload)!.byteLength,
        });
        if (!verdict.ok) logRefusal('update', verdict.message);
        return verdict.ok ? { ok: true, round: meta.round } : { ...verdict, round: meta.round };
      },
      (message) => {
        coordinator.countRefusal();
        logRefusal('update', message);
      },
    );

    onValidated(
      socket,
      EVENTS.evaluation,
      EVALUATION_ARGS,
      ([report]) => {
        const verdict = coordinator.receive(link.id, { kind: 'evaluation', report });
        if (!verdict.ok) logRefusal('evaluation', verdict.message);
        return verdict.ok ? { ok: true, round: report.round } : { ...verdict, round: report.round };
      },
      (message) => logRefusal('evaluation', message),
    );

    onValidated(
      socket,
      EVENTS.secagg,
      SECAGG_ARGS,
      ([{ message, bytes }]) => {
        const { round } = message;
        const verdict = coordinator.receive(link.id, { kind: 'secagg', round, body: message, bytes });
        // Unmasking closes once every secret has enough shares: a late reveal is expected, not worth a log line.
        if (!verdict.ok && !(verdict.code === 'stale-round' && message.type === 'secagg/unmask'))
          logRefusal(`${EVENTS.secagg} message`, verdict.message);
        return verdict.ok ? { ok: true, round } : { ...verdict, round };
      },
      (message) => {
        coordinator.countRefusal();
        logRefusal(`${EVENTS.secagg} message`, message);
      },
    );

    onValidated(
      socket,
      EVENTS.secaggEvaluation,
      SECAGG_EVALUATION_ARGS,
      ([{ message, bytes }]) => {
        const { round } = message;
        const verdict = coordinator.receive(link.id, { kind: 'secagg-evaluation', round, body: message, bytes });
        if (!verdict.ok && !(verdict.code === 'stale-round' && message.type === 'secagg/unmask'))
          logRefusal(`${EVENTS.secaggEvaluation} message`, verdict.message);
        return verdict.ok ? { ok: true, round } : { ...verdict, round };
      },
      (message) => logRefusal(`${EVENTS.secaggEvaluation} message`, message),
    );

    refuseUnknownEvents(socket);
    opts.onJoin?.(link.id, join);
    coordinator.join(link);
  });

  return io;
}
