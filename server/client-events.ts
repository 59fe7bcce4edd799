import type { Server, Socket } from 'socket.io';
import type { z } from 'zod';
import {
  CLIENT_EVENTS,
  EVENTS,
  type AckCallback,
  type ClientEvent,
  type ClientToServerEvents,
  type ServerToClientEvents,
  type SocketData,
} from '../shared/protocol/events.js';
import type { Ack, Refusal } from '../shared/protocol/messages.js';

/** One coordinator process: no events between socket.io servers. */
export type NoServerSideEvents = Record<string, never>;

/** The coordinator's socket.io server and its client connections, typed by the wire contract. */
export type CoordinatorServer = Server<ClientToServerEvents, ServerToClientEvents, NoServerSideEvents, SocketData>;
export type ClientSocket = Socket<ClientToServerEvents, ServerToClientEvents, NoServerSideEvents, SocketData>;

/** How a client event's arguments (those before the acknowledgement callback) are checked. */
export interface ClientEventSchema<S extends z.ZodTuple> {
  /** Names the message in refusals: `invalid <what>: <problem>`. */
  what: string;
  /** What the arguments are, for a refusal of the wrong number of them, e.g. 'metadata, weights'. */
  argNames: string;
  /** One schema per argument, in order. */
  args: S;
}

/**
 * Listens for client event `event`, whose arguments are untrusted: validates them with `schema`
 * and hands them to `handler`, whose answer goes back as the acknowledgement. Invalid arguments
 * never reach the handler: `invalid` hears the problem (to count or log it) and the client gets an
 * 'invalid-message' refusal naming it. A client that asked for no acknowledgement hears of a
 * refusal on the `refused` event instead.
 */
export function onValidated<S extends z.ZodTuple>(
  socket: ClientSocket,
  event: ClientEvent,
  schema: ClientEventSchema<S>,
  handler: (args: z.output<S>) => Ack,
  invalid: (message: string) => void,
): void {
  // Listeners of client events all take untrusted arguments; the event map types what honest clients send.
  socket.on(event, (...received: unknown[]) => {
    const answer = acknowledger(socket, received);
    const args = answer.ack ? received.slice(0, -1) : received;
    const arity = schema.args.def.items.length;
    let problem: string | undefined;
    if (args.length !== arity)
      problem = `takes ${arity} argument${arity === 1 ? '' : 's'} (${schema.argNames}), got ${args.length}`;
    else {
      const parsed = schema.args.safeParse(args);
      if (!parsed.success) problem = describeArgumentIssues(parsed.error);
      else {
        answer.reply(handler(parsed.data));
        return;
      }
    }
    const message = `invalid ${schema.what}: ${problem}`;
    invalid(message);
    answer.reply({ ok: false, code: 'invalid-message', message });
  });
}

/** Refuses every event a client does not send, with the list of those it does. */
export function refuseUnknownEvents(socket: ClientSocket): void {
  const known = new Set<string>(CLIENT_EVENTS);
  const names = CLIENT_EVENTS.map((e) => `'${e}'`);
  const message = (event: string) =>
    `unknown event '${event}'; clients send only ${names.slice(0, -1).join(', ')} and ${names.at(-1)}`;
  socket.onAny((event: string, ...received: unknown[]) => {
    if (!known.has(event))
      acknowledger(socket, received).reply({ ok: false, code: 'invalid-message', message: message(event) });
  });
}

/** Tells the client about a refusal outside any acknowledgement. */
export function refuse(socket: ClientSocket, refusal: Refusal): void {
  socket.emit(EVENTS.refused, refusal);
}

/**
 * The acknowledgement callback of a received event: socket.io appends it as the last argument
 * when the client asked for one (a client cannot send a function itself).
 */
function acknowledger(socket: ClientSocket, received: unknown[]): { ack?: AckCallback; reply: (ack: Ack) => void } {
  const last = received.at(-1);
  const ack = typeof last === 'function' ? (last as AckCallback) : undefined;
  return {
    ...(ack ? { ack } : {}),
    reply: (answer) => {
      if (ack) ack(answer);
      else if (!answer.ok)
        refuse(socket, {
          code: answer.code,
          message: answer.message,
          ...(answer.round !== undefined ? { round: answer.round } : {}),
        });
    },
  };
}

/** Like describeZodError, without the argument index in front of each path (refusals name the argument's fields). */
function describeArgumentIssues(error: z.ZodError): string {
  return error.issues
    .map((i) => {
      const path = i.path.slice(1);
      return path.length ? `${path.join('.')}: ${i.message}` : i.message;
    })
    .join('; ');
}
