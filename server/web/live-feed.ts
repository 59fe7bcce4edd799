import type { Server } from 'socket.io';
import type { TaskInfo } from '../../shared/protocol/messages.js';
import type { RoundList, RoundRecord } from '../../shared/protocol/rounds.js';
import { FEED_EVENTS, FEED_NAMESPACE, SNAPSHOT_ROUNDS, type FeedSnapshot, type FeedStatus } from './feed-messages.js';

/** What the feed reads from the coordinator, and the two events it follows. */
export interface RoundSource {
  readonly task: { info: TaskInfo };
  rounds(): RoundList;
  connectedClients(): string[];
  /** A round closed: its final record. */
  on(event: 'round', listener: (record: RoundRecord) => void): unknown;
  /** The running round, the queue or the set of connected clients changed. */
  on(event: 'changed', listener: () => void): unknown;
  off(event: 'round', listener: (record: RoundRecord) => void): unknown;
  off(event: 'changed', listener: () => void): unknown;
}

export interface LiveFeedOptions {
  /**
   * A change is sent at once, then further changes are coalesced into at most one status message
   * per this many ms, so a burst (a client joining mid-round) costs one message. Default 200.
   */
  intervalMs?: number;
}

const CLOSED = new Set(['committed', 'failed']);

function status(source: RoundSource, list: RoundList): FeedStatus {
  const last = list.rounds[list.rounds.length - 1];
  return {
    currentVersion: list.currentVersion,
    pendingRounds: list.pendingRounds,
    connectedClients: source.connectedClients(),
    running: last && !CLOSED.has(last.status) ? last : null,
    ...(list.privacy ? { privacy: list.privacy } : {}),
  };
}

function snapshot(source: RoundSource): FeedSnapshot {
  const list = source.rounds();
  const closed = list.rounds.filter((r) => CLOSED.has(r.status));
  return { ...status(source, list), task: source.task.info, rounds: closed.slice(-SNAPSHOT_ROUNDS) };
}

/**
 * Serves the live feed on `io`'s FEED_NAMESPACE: a snapshot to each page that connects, then
 * closed rounds as they close and coalesced status changes. Pages send nothing. Returns a
 * function that stops following the coordinator.
 */
export function attachLiveFeed(io: Server, source: RoundSource, opts: LiveFeedOptions = {}): () => void {
  const intervalMs = opts.intervalMs ?? 200;
  const nsp = io.of(FEED_NAMESPACE);
  let cooldown: NodeJS.Timeout | undefined;
  let dirty = false;

  nsp.on('connection', (socket) => {
    socket.emit(FEED_EVENTS.snapshot, snapshot(source));
  });

  const send = () => {
    dirty = false;
    if (nsp.sockets.size > 0) nsp.emit(FEED_EVENTS.status, status(source, source.rounds()));
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
    nsp.emit(FEED_EVENTS.round, record);
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
