import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';
import { io } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import { ask, type CoordinatorSocket } from '../../client/coordinator-socket.js';
import { EVENTS } from '../../shared/protocol/events.js';
import type { EvaluationReport, UpdateMeta } from '../../shared/protocol/messages.js';

/**
 * ask() is how a client sends a message the coordinator acknowledges. The coordinator is not
 * trusted: an acknowledgement that fails its schema is no acceptance.
 */

let cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const step of cleanup.reverse()) await step();
  cleanup = [];
});

/**
 * A hostile coordinator: answers every acknowledged message with `answer` (nothing when it is
 * undefined) and records what arrived.
 */
async function coordinatorAnswering(answer: unknown): Promise<{ socket: CoordinatorSocket; received: unknown[][] }> {
  const http = createServer();
  const server = new Server(http, { serveClient: false });
  const received: unknown[][] = [];
  server.on('connection', (socket) =>
    socket.onAny((event: string, ...args: unknown[]) => {
      const ack = args.at(-1);
      received.push([event, ...args.slice(0, -1)]);
      if (answer !== undefined && typeof ack === 'function') ack(answer);
    }),
  );
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  cleanup.push(() => new Promise<void>((resolve) => void server.close(() => resolve())));
  const socket: CoordinatorSocket = io(`http://127.0.0.1:${(http.address() as AddressInfo).port}`, {
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
  });
  cleanup.push(() => void socket.disconnect());
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('connect_error', reject);
  });
  return { socket, received };
}

const report: EvaluationReport = { round: 2, metrics: null, evalMs: 1 };
const meta: UpdateMeta = { round: 2, numExamples: 10, metrics: { loss: 0.5, accuracy: 0.5 }, trainMs: 3 };

describe('ask', () => {
  it('resolves with undefined when the coordinator accepts, after sending the arguments as given', async () => {
    const { socket, received } = await coordinatorAnswering({ ok: true, round: 2 });
    expect(await ask(socket, 5_000, EVENTS.update, meta, new Uint8Array([1, 2, 3]))).toBeUndefined();
    expect(received).toEqual([[EVENTS.update, meta, Buffer.from([1, 2, 3])]]);
  });

  it("resolves with the coordinator's refusal: its code and message", async () => {
    const { socket } = await coordinatorAnswering({ ok: false, code: 'stale-round', message: 'round 2 is over' });
    expect(await ask(socket, 5_000, EVENTS.evaluation, report)).toBe('stale-round: round 2 is over');
  });

  it.each([
    ['an acceptance with an extra field', { ok: true, round: 2, admin: true }, /^malformed acknowledgement: /],
    ['an acceptance without its round', { ok: true }, /^malformed acknowledgement: round: /],
    ['a refusal with an unknown code', { ok: false, code: 'go-away', message: 'x' }, /^malformed acknowledgement: /],
    ['a string', 'ok', /^malformed acknowledgement: /],
  ])('refuses %s as no acceptance', async (_, answer, refusal) => {
    const { socket } = await coordinatorAnswering(answer);
    expect(await ask(socket, 5_000, EVENTS.evaluation, report)).toMatch(refusal);
  });

  it('resolves with the timeout when no acknowledgement comes', async () => {
    const { socket } = await coordinatorAnswering(undefined);
    expect(await ask(socket, 200, EVENTS.evaluation, report)).toMatch(/^no acknowledgement: /);
  });
});

// Compile-time checks of the wire contract (npm run typecheck): each event takes its own arguments.
export function wrongArgumentsDoNotCompile(socket: CoordinatorSocket): void {
  // @ts-expect-error an update carries its weights too
  void ask(socket, 1, EVENTS.update, meta);
  // @ts-expect-error an evaluation report is not update metadata
  void ask(socket, 1, EVENTS.evaluation, meta);
  // @ts-expect-error clients do not send 'train'
  void ask(socket, 1, EVENTS.train, meta);
}
