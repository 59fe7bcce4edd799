import { io } from 'socket.io-client';
import type { z } from 'zod';
import { describeZodError } from '../protocol/messages.js';
import { FEED_EVENTS, FEED_NAMESPACE, FeedRound, FeedSnapshot, FeedStatus, type FeedAuth } from './feed-messages.js';

/** What a page does with the live feed (browser side). */
export interface FeedHandlers {
  snapshot(s: FeedSnapshot): void;
  status(s: FeedStatus): void;
  round(r: FeedRound): void;
  /** The feed connected (live) or lost its connection (socket.io retries by itself). */
  connection(live: boolean): void;
  /** A message failed validation and was ignored. */
  invalid(event: string, problem: string): void;
  /** The coordinator refused the connection (a wrong admin token); socket.io does not retry. */
  refused?(problem: string): void;
}

export interface FeedOptions {
  /** Ask for the admin view (full round records); without it the feed is public. */
  adminToken?: string;
}

/** Follows the coordinator's live feed on this page's origin; returns a function that stops. */
export function subscribeToFeed(handlers: FeedHandlers, opts: FeedOptions = {}): () => void {
  const auth: FeedAuth = opts.adminToken === undefined ? {} : { adminToken: opts.adminToken };
  // A connection of its own, so the feed never shares (or imposes) options with a training client's socket.
  const socket = io(FEED_NAMESPACE, { forceNew: true, transports: ['websocket'], auth });
  const on = <T>(event: string, schema: z.ZodType<T>, handle: (value: T) => void) =>
    socket.on(event, (raw: unknown) => {
      const parsed = schema.safeParse(raw);
      if (parsed.success) handle(parsed.data);
      else handlers.invalid(event, describeZodError(parsed.error));
    });
  on(FEED_EVENTS.snapshot, FeedSnapshot, (s) => handlers.snapshot(s));
  on(FEED_EVENTS.status, FeedStatus, (s) => handlers.status(s));
  on(FEED_EVENTS.round, FeedRound, (r) => handlers.round(r));
  socket.on('connect', () => handlers.connection(true));
  socket.on('disconnect', () => handlers.connection(false));
  // A refusal by the namespace's middleware leaves the socket inactive; transport errors keep it retrying.
  socket.on('connect_error', (e) => {
    if (!socket.active) handlers.refused?.(e.message);
  });
  return () => socket.disconnect();
}
