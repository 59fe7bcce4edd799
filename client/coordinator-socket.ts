import type { Socket } from 'socket.io-client';
import {
  EVENTS,
  type ClientEvent,
  type ClientEventArgs,
  type ClientToServerEvents,
  type ServerToClientEvents,
} from '../shared/protocol/events.js';
import { AckSchema, describeZodError } from '../shared/protocol/messages.js';

/** A client's connection to the coordinator, typed by the wire contract. */
export type CoordinatorSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

/** How long a client waits for the coordinator to acknowledge a message, unless told otherwise. */
export const DEFAULT_ACK_TIMEOUT_MS = 60_000;

/** A client event with its arguments before the acknowledgement callback. */
export type Question = { [E in ClientEvent]: [event: E, ...args: ClientEventArgs<E>] }[ClientEvent];

/**
 * Sends a client event and waits for the coordinator's acknowledgement. Resolves with undefined
 * when the coordinator accepted the message, else with why not: its refusal, an acknowledgement
 * that fails its schema (the coordinator is not trusted either), or none in time.
 */
export async function ask(
  socket: CoordinatorSocket,
  timeoutMs: number,
  ...question: Question
): Promise<string | undefined> {
  let answer: unknown;
  try {
    answer = await emitWithAck(socket.timeout(timeoutMs), question);
  } catch (e) {
    return `no acknowledgement: ${(e as Error).message}`;
  }
  const ack = AckSchema.safeParse(answer);
  if (!ack.success) return `malformed acknowledgement: ${describeZodError(ack.error)}`;
  return ack.data.ok ? undefined : `${ack.data.code}: ${ack.data.message}`;
}

/** One typed emit per event: socket.io's typings cannot relate a generic event name to its arguments. */
function emitWithAck(socket: ReturnType<CoordinatorSocket['timeout']>, question: Question): Promise<unknown> {
  switch (question[0]) {
    case EVENTS.update:
      return socket.emitWithAck(question[0], question[1], question[2]);
    case EVENTS.evaluation:
      return socket.emitWithAck(question[0], question[1]);
    case EVENTS.secagg:
      return socket.emitWithAck(question[0], question[1]);
    case EVENTS.secaggEvaluation:
      return socket.emitWithAck(question[0], question[1]);
    default: {
      const never: never = question;
      throw new Error(`unknown client event ${JSON.stringify(never)}`);
    }
  }
}
