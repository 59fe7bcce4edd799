import type { Namespace, Server } from 'socket.io';
import { describeZodError, type TaskInfo } from '../../shared/protocol/messages.js';
import { OUTSIDE_DP_GUARANTEE, publicRoundView } from '../../shared/protocol/public-rounds.js';
import type { PrivacyStatus, RoundList, RoundRecord } from '../../shared/protocol/rounds.js';
import { tokenMatches, type Access } from '../auth.js';
import {
  FEED_EVENTS,
  FEED_NAMESPACE,
  FeedAuth,
  SNAPSHOT_ROUNDS,
  type FeedRound,
  type FeedSnapshot,
  type FeedEvents,
  type FeedStatus,
} from '../../shared/feed/feed-messages.js';

/** The feed's namespace: pages listen, never send; each connection keeps its audience. */
type FeedNamespace = Namespace<Record<string, never>, FeedEvents, Record<string, never>, { access: Access }>;

/** What the feed reads from the coordinator, and the two events it follows. */
export interface RoundSource {
  readonly task: { info: TaskInfo };
  rounds(): RoundList;
  connectedClients(): string[];
  /** The privacy account; undefined when differential privacy is off. */
  privacyStatus(): PrivacyStatus | undefined;
  /** A round closed: its final record. */
  on(event: 'round', listener: (record: RoundRecord) => void): unknown;
  /** The running round, the queue or the set of connected clients changed. */
  on(event: 'changed', listener: () => void): unknown;
  off(event: 'round', listener: (record: RoundRecord) => void): unknown;
  off(event: 'changed', listener: () => void): unknown;
}

export interface LiveFeedOptions {
  /** A page that connects with this token (handshake `auth: { adminToken }`) gets the full records. */
  adminToken: string;
  /**
   * A change is sent at once, then further changes are coalesced into at most one status message
   * per this many ms, so a burst (a client joining mid-round) costs one message. Default 200.
   */
  intervalMs?: number;
}

const CLOSED = new Set(['committed', 'failed']);
/** Each socket joins the room of its audience. */
const AUDIENCES: readonly Access[] = ['public', 'admin'];

function status(source: RoundSource, list: RoundList, access: Access): FeedStatus {
  const last = list.rounds[list.rounds.length - 1];
  const running = last && !CLOSED.has(last.status) ? last : null;
  const privacy = list.privacy !== undefined;
  const counters = {
    currentVersion: list.currentVersion,
    pendingRounds: list.pendingRounds,
    ...(list.privacy ? { privacy: list.privacy } : {}),
  };
  switch (access) {
    case 'public':
      return {
        access,
        ...counters,
        ...(privacy ? {} : { connectedClients: source.connectedClients().length }),
        running: running && publicRoundView(running, { privacy }),
      };
    case 'admin':
      return {
        access,
        ...counters,
        connectedClients: source.connectedClients(),
        running,
        ...(privacy ? { outsideDpGuarantee: [...OUTSIDE_DP_GUARANTEE] } : {}),
      };
    default: {
      const never: never = access;
      throw new Error(`unknown feed audience ${JSON.stringify(never)}`);
    }
  }
}

function snapshot(source: RoundSource, access: Access): FeedSnapshot {
  const list = source.rounds();
  const closed = list.rounds.filter((r) => CLOSED.has(r.status)).slice(-SNAPSHOT_ROUNDS);
  const s = status(source, list, access);
  const privacy = list.privacy !== undefined;
  return s.access === 'public'
    ? { ...s, task: source.task.info, rounds: closed.map((r) => publicRoundView(r, { privacy })) }
    : { ...s, task: source.task.info, rounds: closed };
}

/** The audience a handshake asks for; throws (refusing the connection) on a wrong or malformed token. */
function handshakeAccess(auth: unknown, adminToken: string): Access {
  const parsed = FeedAuth.safeParse(auth ?? {});
  if (!parsed.success) throw new Error(`malformed feed auth: ${describeZodError(parsed.error)}`);
  if (parsed.data.adminToken === undefined) return 'public';
  if (!tokenMatches(parsed.data.adminToken, adminToken)) throw new Error('wrong admin token');
  return 'admin';
}

/**
 * Serves the live feed on `io`'s FEED_NAMESPACE: a snapshot to each page that connects, then
 * closed rounds as they close and coalesced status changes, each in the view of the page's
 * audience. Pages send nothing. Returns a function that stops following the coordinator.
 */
export function attachLiveFeed(io: Server, source: RoundSource, opts: LiveFeedOptions): () => void {
  const intervalMs = opts.intervalMs ?? 200;
  // One server hosts the client protocol and the feed; socket.io types io.of() with the server's own event maps.
  const nsp = io.of(FEED_NAMESPACE) as FeedNamespace;
  let cooldown: NodeJS.Timeout | undefined;
  let dirty = false;

  nsp.use((socket, next) => {
    try {
      socket.data.access = handshakeAccess(socket.handshake.auth, opts.adminToken);
      next();
    } catch (e) {
      next(e as Error);
    }
  });
  nsp.on('connection', (socket) => {
    const { access } = socket.data;
    void socket.join(access);
    socket.emit(FEED_EVENTS.snapshot, snapshot(source, access));
  });

  const listening = (access: Access) => (nsp.adapter.rooms.get(access)?.size ?? 0) > 0;
  const send = () => {
    dirty = false;
    const list = source.rounds();
    for (const access of AUDIENCES)
      if (listening(access)) nsp.local.to(access).emit(FEED_EVENTS.status, status(source, list, access));
    cooldown = setTimeout(() => {
      cooldown = undefined;
      if (dirty) send();
    }, intervalMs);
  };
  const onChanged = () => {
    if (cooldown) dirty = true;
    else send();
  };
  const onRound = (record: RoundRecord) => {
    const privacy = source.privacyStatus() !== undefined;
    const views: Record<Access, FeedRound> = {
      public: { access: 'public', record: publicRoundView(record, { privacy }) },
      admin: { access: 'admin', record },
    };
    for (const access of AUDIENCES) nsp.local.to(access).emit(FEED_EVENTS.round, views[access]);
    onChanged();
  };
  source.on('changed', onChanged);
  source.on('round', onRound);

  return () => {
    source.off('changed', onChanged);
    source.off('round', onRound);
    if (cooldown) clearTimeout(cooldown);
    cooldown = undefined;
    nsp.disconnectSockets(true);
  };
}
