import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';
import { io, type Socket } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  onValidated,
  refuseUnknownEvents,
  type ClientSocket,
  type NoServerSideEvents,
} from '../../server/client-events.js';
import {
  EVENTS,
  type ClientToServerEvents,
  type ServerToClientEvents,
  type SocketData,
} from '../../shared/protocol/events.js';
import {
  EvaluationReportSchema,
  type Ack,
  type EvaluationReport,
  type Refusal,
} from '../../shared/protocol/messages.js';

/**
 * onValidated is the coordinator's one way to listen for a client event: whatever a client sends,
 * the handler sees only arguments that passed their schema, and the client always hears back.
 */

let cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const step of cleanup.reverse()) await step();
  cleanup = [];
});

const EVALUATION_ARGS = { what: 'evaluation', argNames: 'report', args: z.tuple([EvaluationReportSchema]) };

/** A coordinator-side socket.io server whose connections run `setup`; resolves with its URL. */
async function serve(setup: (socket: ClientSocket) => void): Promise<string> {
  const http: HttpServer = createServer();
  const server = new Server<ClientToServerEvents, ServerToClientEvents, NoServerSideEvents, SocketData>(http, {
    serveClient: false,
  });
  server.on('connection', setup);
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  cleanup.push(() => new Promise<void>((resolve) => void server.close(() => resolve())));
  return `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
}

/** A raw client: it may send anything, as a hostile one would. */
async function connect(url: string): Promise<Socket> {
  const socket = io(url, { transports: ['websocket'], reconnection: false, forceNew: true });
  cleanup.push(() => void socket.disconnect());
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('connect_error', reject);
  });
  return socket;
}

/** Evaluations through onValidated; records what the handler and the invalid hook saw. */
async function evaluationServer() {
  const handled: EvaluationReport[] = [];
  const invalid: string[] = [];
  const url = await serve((socket) => {
    onValidated(
      socket,
      EVENTS.evaluation,
      EVALUATION_ARGS,
      ([report]): Ack => {
        handled.push(report);
        return { ok: true, round: report.round };
      },
      (message) => invalid.push(message),
    );
    refuseUnknownEvents(socket);
  });
  return { url, handled, invalid };
}

const report: EvaluationReport = { round: 3, metrics: null, evalMs: 1 };
const refusalOf = (socket: Socket) => new Promise<Refusal>((resolve) => socket.once(EVENTS.refused, resolve));

describe('onValidated', () => {
  it('hands valid arguments to the handler and acknowledges with its answer', async () => {
    const { url, handled, invalid } = await evaluationServer();
    const socket = await connect(url);
    expect(await socket.timeout(5_000).emitWithAck(EVENTS.evaluation, report)).toEqual({ ok: true, round: 3 });
    expect(handled).toEqual([report]);
    expect(invalid).toEqual([]);
  });

  it.each([
    ['a field of the wrong type', [{ ...report, round: 'three' }], /^invalid evaluation: round: /],
    ['an unknown field', [{ ...report, admin: true }], /^invalid evaluation: Unrecognized key: "admin"$/],
    ['no argument', [], /^invalid evaluation: takes 1 argument \(report\), got 0$/],
    ['one argument too many', [report, 'extra'], /^invalid evaluation: takes 1 argument \(report\), got 2$/],
  ])('refuses %s with the problem named, and the handler never runs', async (_, args, message) => {
    const { url, handled, invalid } = await evaluationServer();
    const socket = await connect(url);
    const ack = (await socket.timeout(5_000).emitWithAck(EVENTS.evaluation, ...args)) as Ack;
    expect(ack).toMatchObject({ ok: false, code: 'invalid-message', message: expect.stringMatching(message) });
    expect(handled).toEqual([]);
    expect(invalid).toEqual([(ack as { message: string }).message]);
  });

  it('tells a client that asked for no acknowledgement of the refusal on the refused event, and keeps serving', async () => {
    const { url, handled } = await evaluationServer();
    const socket = await connect(url);
    const refused = refusalOf(socket);
    socket.emit(EVENTS.evaluation, { round: -1 });
    expect(await refused).toMatchObject({
      code: 'invalid-message',
      message: expect.stringMatching(/^invalid evaluation: /),
    });
    // Still connected and served: the missing callback crashed nothing.
    expect(await socket.timeout(5_000).emitWithAck(EVENTS.evaluation, report)).toEqual({ ok: true, round: 3 });
    expect(handled).toEqual([report]);
  });

  it('says nothing to a client that asked for no acknowledgement of a message it accepted', async () => {
    const { url, handled } = await evaluationServer();
    const socket = await connect(url);
    const heard: unknown[] = [];
    socket.onAny((...args: unknown[]) => heard.push(args));
    socket.emit(EVENTS.evaluation, report);
    // An acknowledged message sent after it arrives after it: the first one was handled by then.
    await socket.timeout(5_000).emitWithAck(EVENTS.evaluation, report);
    expect(handled).toEqual([report, report]);
    expect(heard).toEqual([]);
  });
});

describe('refuseUnknownEvents', () => {
  it('refuses an event clients do not send, naming those they do', async () => {
    const { url } = await evaluationServer();
    const socket = await connect(url);
    const expected = {
      ok: false,
      code: 'invalid-message',
      message: "unknown event 'train'; clients send only 'update', 'evaluation', 'secagg' and 'secagg-evaluation'",
    };
    expect(await socket.timeout(5_000).emitWithAck(EVENTS.train, {})).toEqual(expected);
    const refused = refusalOf(socket);
    socket.emit(EVENTS.train, {});
    expect(await refused).toEqual({ code: expected.code, message: expected.message });
  });
});
