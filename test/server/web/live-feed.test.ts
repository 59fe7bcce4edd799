import { EventEmitter } from 'node:events';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';
import { io as connect, type Socket } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import type { RoundList, RoundRecord } from '../../../shared/protocol/rounds.js';
import { FEED_EVENTS, FEED_NAMESPACE, FeedRound, FeedSnapshot, FeedStatus } from '../../../server/web/feed-messages.js';
import { attachLiveFeed, type RoundSource } from '../../../server/web/live-feed.js';

function record(round: number, status: RoundRecord['status']): RoundRecord {
  return {
    round,
    status,
    baseVersion: round - 1,
    ...(status === 'committed' ? { version: round } : {}),
    participants: ['a', 'b'],
    dropped: [],
    contributions: [],
    numExamples: 0,
    updateBytes: 0,
    startedAt: new Date(0).toISOString(),
    phaseMs: {},
    durationMs: 5,
  };
}

/** A coordinator stand-in: the rounds listing and the two events the feed follows. */
class FakeSource extends EventEmitter<{ round: [RoundRecord]; changed: [] }> implements RoundSource {
  readonly task = { info: { name: 'mnist', inputShape: [28, 28, 1], numClasses: 10, parameterCount: 100 } };
  list: RoundList = { currentVersion: 1, pendingRounds: 1, rounds: [record(1, 'committed'), record(2, 'training')] };
  clients = ['a', 'b'];
  rounds(): RoundList {
    return this.list;
  }
  connectedClients(): string[] {
    return this.clients;
  }
}

let http: HttpServer | undefined;
let io: Server | undefined;
let socket: Socket | undefined;

afterEach(async () => {
  socket?.disconnect();
  await new Promise<void>((resolve) => (io ? io.close(() => resolve()) : resolve()));
  http = io = socket = undefined;
});

async function start(source: RoundSource): Promise<{ detach: () => void; url: string }> {
  http = createServer();
  io = new Server(http);
  const detach = attachLiveFeed(io, source, { intervalMs: 20 });
  await new Promise<void>((resolve) => http!.listen(0, '127.0.0.1', resolve));
  return { detach, url: `http://127.0.0.1:${(http.address() as AddressInfo).port}${FEED_NAMESPACE}` };
}

function next<T>(s: Socket, event: string): Promise<T> {
  return new Promise((resolve) => s.once(event, resolve));
}

describe('live feed', () => {
  it('sends a snapshot on connect, coalesced status on change, and closed rounds', async () => {
    const source = new FakeSource();
    const { url } = await start(source);
    socket = connect(url, { transports: ['websocket'] });
    const snapshot = FeedSnapshot.parse(await next(socket, FEED_EVENTS.snapshot));
    expect(snapshot.task.name).toBe('mnist');
    expect(snapshot.rounds.map((r) => r.round)).toEqual([1]);
    expect(snapshot.running?.round).toBe(2);
    expect(snapshot.connectedClients).toEqual(['a', 'b']);

    const statuses: FeedStatus[] = [];
    socket.on(FEED_EVENTS.status, (s: unknown) => statuses.push(FeedStatus.parse(s)));
    // The first change goes out at once; the burst after it is coalesced into one more message.
    source.list = { currentVersion: 1, pendingRounds: 1, rounds: [record(1, 'committed'), { ...record(2, 'aggregating') }] };
    source.emit('changed');
    source.clients = ['a', 'b', 'c'];
    for (let i = 0; i < 5; i++) source.emit('changed');
    await new Promise((r) => setTimeout(r, 150));
    expect(statuses.map((s) => s.connectedClients.length)).toEqual([2, 3]);
    expect(statuses[0].running?.status).toBe('aggregating');

    const closed = next<unknown>(socket, FEED_EVENTS.round);
    source.list = { currentVersion: 2, pendingRounds: 0, rounds: [record(1, 'committed'), record(2, 'committed')] };
    source.emit('round', record(2, 'committed'));
    expect(FeedRound.parse(await closed).version).toBe(2);
    await new Promise((r) => setTimeout(r, 50));
    const after = statuses[statuses.length - 1];
    expect(after).toMatchObject({ currentVersion: 2, pendingRounds: 0, running: null });
  });

  it('stops following the coordinator when detached', async () => {
    const source = new FakeSource();
    const { detach } = await start(source);
    expect(source.listenerCount('changed')).toBe(1);
    expect(source.listenerCount('round')).toBe(1);
    detach();
    expect(source.listenerCount('changed')).toBe(0);
    expect(source.listenerCount('round')).toBe(0);
  });
});
