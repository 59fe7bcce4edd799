import { EventEmitter } from 'node:events';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';
import { io as connect, type Socket } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import type { PrivacyStatus, RoundList, RoundRecord } from '../../../shared/protocol/rounds.js';
import {
  FEED_EVENTS,
  FEED_NAMESPACE,
  FeedRound,
  FeedSnapshot,
  FeedStatus,
} from '../../../shared/feed/feed-messages.js';
import { attachLiveFeed, type RoundSource } from '../../../server/web/live-feed.js';

const ADMIN_TOKEN = 'feed-admin-token';

function record(round: number, status: RoundRecord['status']): RoundRecord {
  return {
    round,
    status,
    baseVersion: round - 1,
    ...(status === 'committed' ? { version: round } : {}),
    participants: ['a', 'b'],
    dropped: [],
    contributions: [
      { clientId: 'a', numExamples: 17, loss: 0.25, accuracy: 0.5, trainMs: 40 },
      { clientId: 'b', numExamples: 23, loss: 0.75, accuracy: 0.25, trainMs: 60 },
    ],
    numExamples: 40,
    updateBytes: 0,
    startedAt: new Date(0).toISOString(),
    phaseMs: {},
    durationMs: 5,
  };
}

const PRIVACY: PrivacyStatus = {
  mode: 'central',
  epsilon: 1,
  delta: 1e-5,
  targetEpsilon: 8,
  coordinatorEpsilon: null,
  rounds: 1,
  roundsRemaining: 5,
  clipNorm: 1,
  audiences: { public: 1, participationKnown: { typicalClient: 2, everyRound: 3 }, coordinator: null },
};

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
  privacyStatus(): PrivacyStatus | undefined {
    return this.list.privacy;
  }
}

let http: HttpServer | undefined;
let io: Server | undefined;
let sockets: Socket[] = [];

afterEach(async () => {
  for (const s of sockets) s.disconnect();
  await new Promise<void>((resolve) => {
    if (io) void io.close(() => resolve());
    else resolve();
  });
  http = io = undefined;
  sockets = [];
});

async function start(source: RoundSource): Promise<{ detach: () => void; url: string }> {
  http = createServer();
  io = new Server(http);
  const detach = attachLiveFeed(io, source, { adminToken: ADMIN_TOKEN, intervalMs: 20 });
  await new Promise<void>((resolve) => http!.listen(0, '127.0.0.1', resolve));
  return { detach, url: `http://127.0.0.1:${(http.address() as AddressInfo).port}${FEED_NAMESPACE}` };
}

function open(url: string, auth: Record<string, unknown> = {}): Socket {
  const s = connect(url, { transports: ['websocket'], auth, forceNew: true, reconnection: false });
  sockets.push(s);
  return s;
}

function next<T>(s: Socket, event: string): Promise<T> {
  return new Promise((resolve) => s.once(event, resolve));
}

function refusal(s: Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    s.once('connect_error', (e) => resolve(e.message));
    s.once(FEED_EVENTS.snapshot, () => reject(new Error('the feed accepted the connection')));
  });
}

describe('live feed', () => {
  it('sends a snapshot on connect, coalesced status on change, and closed rounds', async () => {
    const source = new FakeSource();
    const { url } = await start(source);
    const socket = open(url);
    const snapshot = FeedSnapshot.parse(await next(socket, FEED_EVENTS.snapshot));
    expect(snapshot.task.name).toBe('mnist');
    expect(snapshot.rounds.map((r) => r.round)).toEqual([1]);
    expect(snapshot.running?.round).toBe(2);
    expect(snapshot.connectedClients).toBe(2);

    const statuses: FeedStatus[] = [];
    socket.on(FEED_EVENTS.status, (s: unknown) => statuses.push(FeedStatus.parse(s)));
    // The first change goes out at once; the burst after it is coalesced into one more message.
    source.list = {
      currentVersion: 1,
      pendingRounds: 1,
      rounds: [record(1, 'committed'), { ...record(2, 'aggregating') }],
    };
    source.emit('changed');
    source.clients = ['a', 'b', 'c'];
    for (let i = 0; i < 5; i++) source.emit('changed');
    await new Promise((r) => setTimeout(r, 150));
    expect(statuses.map((s) => s.connectedClients)).toEqual([2, 3]);
    expect(statuses[0].running?.status).toBe('aggregating');

    const closed = next<unknown>(socket, FEED_EVENTS.round);
    source.list = { currentVersion: 2, pendingRounds: 0, rounds: [record(1, 'committed'), record(2, 'committed')] };
    source.emit('round', record(2, 'committed'));
    expect(FeedRound.parse(await closed).record.version).toBe(2);
    await new Promise((r) => setTimeout(r, 50));
    const after = statuses[statuses.length - 1];
    expect(after).toMatchObject({ currentVersion: 2, pendingRounds: 0, running: null });
  });

  it('gives a page without the admin token aggregates only, and one with it the full records', async () => {
    const source = new FakeSource();
    const { url } = await start(source);
    const pub = open(url);
    const admin = open(url, { adminToken: ADMIN_TOKEN });
    const [pubSnap, adminSnap] = await Promise.all([
      next(pub, FEED_EVENTS.snapshot),
      next(admin, FEED_EVENTS.snapshot),
    ]);
    const pubRound = next(pub, FEED_EVENTS.round);
    const adminRound = next(admin, FEED_EVENTS.round);
    const pubStatus = next(pub, FEED_EVENTS.status);
    source.emit('round', record(3, 'committed'));
    const seenByPublic = [pubSnap, await pubRound, await pubStatus];
    for (const message of seenByPublic) {
      const json = JSON.stringify(message);
      // Client ids ('a', 'b') and each client's example count and loss.
      expect(json).not.toMatch(/"(a|b|c)"|\b17\b|\b23\b|0\.25|0\.75/);
    }
    expect(FeedSnapshot.parse(pubSnap)).toMatchObject({
      access: 'public',
      rounds: [{ view: 'aggregates', participants: 2, contributors: 2, numExamples: 40 }],
    });

    expect(FeedSnapshot.parse(adminSnap)).toMatchObject({
      access: 'admin',
      connectedClients: ['a', 'b'],
      rounds: [{ participants: ['a', 'b'] }],
    });
    expect(FeedRound.parse(await adminRound)).toMatchObject({
      access: 'admin',
      record: {
        contributions: [
          { clientId: 'a', numExamples: 17 },
          { clientId: 'b', loss: 0.75 },
        ],
      },
    });
    expect(FeedSnapshot.parse(adminSnap)).not.toHaveProperty('outsideDpGuarantee');
  });

  it('with differential privacy on: the public view carries what the accountant covers; admin is marked', async () => {
    const source = new FakeSource();
    source.list = { ...source.list, privacy: PRIVACY };
    const { url } = await start(source);
    const pub = open(url);
    const admin = open(url, { adminToken: ADMIN_TOKEN });
    const pubSnap = FeedSnapshot.parse(await next(pub, FEED_EVENTS.snapshot));
    const adminSnap = FeedSnapshot.parse(await next(admin, FEED_EVENTS.snapshot));
    const pubRound = next(pub, FEED_EVENTS.round);
    source.emit('round', record(3, 'committed'));
    for (const message of [pubSnap, await pubRound])
      expect(JSON.stringify(message)).not.toMatch(/"(a|b)"|\b17\b|\b23\b|\b40\b|0\.25|0\.75|participants|numExamples/);
    expect(pubSnap).not.toHaveProperty('connectedClients');
    expect(pubSnap).toMatchObject({
      access: 'public',
      privacy: PRIVACY,
      running: { view: 'dp', round: 2, status: 'training' },
      rounds: [{ view: 'dp', version: 1 }],
    });
    expect(adminSnap).toMatchObject({
      access: 'admin',
      outsideDpGuarantee: expect.arrayContaining(['contributions', 'participants', 'numExamples']),
    });
  });

  it('refuses a wrong, prefix, empty or malformed admin token instead of downgrading it', async () => {
    const { url } = await start(new FakeSource());
    for (const adminToken of ['wrong', ADMIN_TOKEN.slice(0, -1), `${ADMIN_TOKEN}x`, '']) {
      await expect(refusal(open(url, { adminToken }))).resolves.toBe('wrong admin token');
    }
    await expect(refusal(open(url, { adminToken: 42 }))).resolves.toMatch(/^malformed feed auth: adminToken/);
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
