import type { Server as HttpServer } from 'node:http';
import { Server, type Socket } from 'socket.io';
import {
  describeZodError,
  EvaluationReport,
  EVENTS,
  JoinAuth,
  PROTOCOL_VERSION,
  UpdateMeta,
  type ErrorCode,
  type Refusal,
  type UpdateReply,
} from '../shared/protocol/messages.js';
import { decodeEnvelope, encodeEnvelope, EnvelopeError } from '../shared/protocol/envelope.js';
import { FLOAT32_CODEC, tensorSizes } from '../shared/compression/codec-spec.js';
import { decodeUpdate } from '../shared/compression/update-codec.js';
import { encodeWeights, payloadBytes, WeightPayloadError } from '../shared/protocol/weights-codec.js';
import { SecAggClientMessage } from '../shared/secagg/messages.js';
import { tokenMatches } from './auth.js';
import type { ClientCredentials } from './client-credentials.js';
import type { ClientLink, Coordinator } from './coordinator.js';

export interface SocketTransportOptions {
  /** The shared join token: any holder joins under any free name (not sybil-resistant). */
  joinToken: string;
  /** Per-client tokens instead: each admits only its own name, and the shared token is refused. */
  clientCredentials?: ClientCredentials;
  log: (line: string) => void;
  /** A further check of an authenticated join (secure aggregation: the identity key); a reason refuses it. */
  admit?: (join: JoinAuth) => string | undefined;
  /** A join was admitted under client id `id`. */
  onJoin?: (id: string, join: JoinAuth) => void;
  /** socket.io's heartbeat; default its own (ping every 25 s, 20 s to answer). */
  heartbeat?: Heartbeat;
}

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

function joinError(code: ErrorCode, message: string): Error {
  // socket.io hands `data` to the client's connect_error handler along with the message.
  return Object.assign(new Error(message), { data: { code } });
}

/**
 * socket.io on the coordinator's HTTP server: authenticates joins, validates every inbound
 * message (zod for the JSON part, weights-codec for the binary part) and forwards it to the
 * coordinator; replies to every update, with the reason when it is refused. Messages with a
 * variable number of byte fields (`train`, `secagg`) travel as one binary envelope (envelope.ts),
 * since socket.io refuses packets with more than 10 binary attachments.
 */
export function attachSocketTransport(
  http: HttpServer,
  coordinator: Coordinator,
  opts: SocketTransportOptions,
): Server {
  const parameterCount = coordinator.task.info.parameterCount;
  const sizes = tensorSizes(coordinator.task.weightSpecs);
  const heartbeat = opts.heartbeat
    ? { pingInterval: opts.heartbeat.pingIntervalMs, pingTimeout: opts.heartbeat.pingTimeoutMs }
    : {};
  const io = new Server(http, { maxHttpBufferSize: maxMessageBytes(parameterCount), serveClient: false, ...heartbeat });
  // Encoded once per global-weights array, not once per participant.
  const encoded = new WeakMap<Float32Array, ArrayBuffer>();
  const encode = (w: Float32Array) => {
    let buf = encoded.get(w);
    if (!buf) encoded.set(w, (buf = encodeWeights(w)));
    return buf;
  };
  // A round's training task is one object for all participants: with a roster of n identity keys,
  // encoding it per participant would cost O(n^2).
  const envelopes = new WeakMap<object, ArrayBuffer>();
  const envelopeOf = (body: object) => {
    let buf = envelopes.get(body);
    if (!buf) envelopes.set(body, (buf = encodeEnvelope(body)));
    return buf;
  };

  io.use((socket, next) => {
    const parsed = JoinAuth.safeParse(socket.handshake.auth);
    if (!parsed.success) {
      const missingToken = !(socket.handshake.auth as { token?: unknown } | undefined)?.token;
      return next(
        missingToken
          ? joinError('unauthorized', 'a join token is required (client --token or FEDSERVE_JOIN_TOKEN)')
          : joinError('invalid-message', `invalid join request: ${describeZodError(parsed.error)}`),
      );
    }
    if (opts.clientCredentials) {
      const refusal = opts.clientCredentials.refusal(parsed.data.name, parsed.data.token);
      if (refusal) return next(joinError('unauthorized', refusal));
    } else if (!tokenMatches(parsed.data.token, opts.joinToken))
      return next(joinError('unauthorized', 'wrong join token'));
    if (parsed.data.protocolVersion !== PROTOCOL_VERSION) {
      return next(
        joinError(
          'unsupported-protocol',
          `client speaks protocol ${parsed.data.protocolVersion}, this coordinator speaks ${PROTOCOL_VERSION}`,
        ),
      );
    }
    const refusal = opts.admit?.(parsed.data);
    if (refusal) return next(joinError('unauthorized', refusal));
    socket.data.join = parsed.data;
    next();
  });

  io.on('connection', (socket: Socket) => {
    const join = socket.data.join as JoinAuth;
    const link: ClientLink = {
      id: join.name ?? `client-${socket.id.slice(0, 8)}`,
      canEvaluate: join.canEvaluate === true,
      send: (message) => {
        switch (message.event) {
          case 'train':
            socket.emit(EVENTS.train, envelopeOf(message.body), encode(message.weights));
            break;
          case 'welcome':
            socket.emit(EVENTS.welcome, message.body);
            break;
          case 'round-closed':
            socket.emit(EVENTS.roundClosed, message.body);
            break;
          case 'evaluate':
            socket.emit(EVENTS.evaluate, message.body, encode(message.weights));
            break;
          case 'secagg':
            socket.emit(EVENTS.secagg, encodeEnvelope(message.body));
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

    socket.on(EVENTS.update, (...args: unknown[]) => {
      const ack =
        typeof args[args.length - 1] === 'function' ? (args.pop() as (reply: UpdateReply) => void) : undefined;
      const reply = (r: UpdateReply) => {
        if (ack) ack(r);
        else if (!r.ok)
          refuse(socket, { code: r.code, message: r.message, ...(r.round !== undefined ? { round: r.round } : {}) });
      };
      const refused = (code: ErrorCode, message: string, round?: number) => {
        if (round === undefined) coordinator.countRefusal();
        else coordinator.refuseUpdate(link.id, round, `${code}: ${message}`);
        opts.log(`refused update from ${link.id}: ${message}`);
        reply({ ok: false, code, message, ...(round !== undefined ? { round } : {}) });
      };
      if (args.length !== 2)
        return refused('invalid-message', `update takes 2 arguments (metadata, weights), got ${args.length}`);
      const meta = UpdateMeta.safeParse(args[0]);
      if (!meta.success) return refused('invalid-message', `invalid update: ${describeZodError(meta.error)}`);
      let delta: Float32Array;
      try {
        // The codec the update says it uses; the round refuses it if that is not the one it announced.
        delta = decodeUpdate(args[1], meta.data.codec ?? FLOAT32_CODEC, sizes);
      } catch (e) {
        if (e instanceof WeightPayloadError) return refused(e.code, e.message, meta.data.round);
        throw e;
      }
      const verdict = coordinator.receive(link.id, {
        kind: 'update',
        meta: meta.data,
        delta,
        bytes: payloadBytes(args[1])!.byteLength,
      });
      if (!verdict.ok) opts.log(`refused update from ${link.id}: ${verdict.message}`);
      reply(verdict.ok ? { ok: true, round: meta.data.round } : { ...verdict, round: meta.data.round });
    });

    socket.on(EVENTS.evaluation, (...args: unknown[]) => {
      const ack =
        typeof args[args.length - 1] === 'function' ? (args.pop() as (reply: UpdateReply) => void) : undefined;
      const reply = (r: UpdateReply) => {
        if (!r.ok) opts.log(`refused evaluation from ${link.id}: ${r.message}`);
        if (ack) ack(r);
        else if (!r.ok)
          refuse(socket, { code: r.code, message: r.message, ...(r.round !== undefined ? { round: r.round } : {}) });
      };
      const report = EvaluationReport.safeParse(args[0]);
      if (args.length !== 1 || !report.success) {
        return reply({
          ok: false,
          code: 'invalid-message',
          message: `invalid evaluation: ${report.success ? `takes 1 argument, got ${args.length}` : describeZodError(report.error)}`,
        });
      }
      const verdict = coordinator.receive(link.id, { kind: 'evaluation', report: report.data });
      reply(verdict.ok ? { ok: true, round: report.data.round } : { ...verdict, round: report.data.round });
    });

    socket.on(EVENTS.secagg, (...args: unknown[]) => {
      const ack =
        typeof args[args.length - 1] === 'function' ? (args.pop() as (reply: UpdateReply) => void) : undefined;
      const reply = (r: UpdateReply, type?: string) => {
        // Unmasking closes once every secret has enough shares: a late reveal is expected, not worth a log line.
        if (!r.ok && !(r.code === 'stale-round' && type === 'secagg/unmask'))
          opts.log(`refused ${EVENTS.secagg} message from ${link.id}: ${r.message}`);
        if (ack) ack(r);
        else if (!r.ok)
          refuse(socket, { code: r.code, message: r.message, ...(r.round !== undefined ? { round: r.round } : {}) });
      };
      const invalid = (problem: string) => {
        coordinator.countRefusal();
        reply({ ok: false, code: 'invalid-message', message: `invalid ${EVENTS.secagg} message: ${problem}` });
      };
      if (args.length !== 1) return invalid(`takes 1 argument (an envelope), got ${args.length}`);
      let body: unknown;
      try {
        body = decodeEnvelope(args[0]);
      } catch (e) {
        if (e instanceof EnvelopeError) return invalid(e.message);
        throw e;
      }
      const message = SecAggClientMessage.safeParse(body);
      if (!message.success) return invalid(describeZodError(message.error));
      const { round } = message.data;
      // decodeEnvelope accepted it, so it is binary: its length is what crossed the wire.
      const bytes = (args[0] as ArrayBuffer | Uint8Array).byteLength;
      const verdict = coordinator.receive(link.id, { kind: 'secagg', round, body: message.data, bytes });
      reply(verdict.ok ? { ok: true, round } : { ...verdict, round }, message.data.type);
    });

    socket.onAny((event: string, ...args: unknown[]) => {
      if (event === EVENTS.update || event === EVENTS.evaluation || event === EVENTS.secagg) return;
      const message = `unknown event '${event}'; clients send only '${EVENTS.update}', '${EVENTS.evaluation}' and '${EVENTS.secagg}'`;
      const ack = args[args.length - 1];
      if (typeof ack === 'function') ack({ ok: false, code: 'invalid-message', message } satisfies UpdateReply);
      else refuse(socket, { code: 'invalid-message', message });
    });
    opts.onJoin?.(link.id, join);
    coordinator.join(link);
  });

  return io;
}

function refuse(socket: Socket, refusal: Refusal): void {
  socket.emit(EVENTS.refused, refusal);
}
