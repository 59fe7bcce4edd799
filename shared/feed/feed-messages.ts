import { z } from 'zod';
import { TaskInfoSchema } from '../protocol/messages.js';
import { PublicRoundSchema } from '../protocol/public-rounds.js';
import { PrivacyStatusSchema, RoundRecordSchema } from '../protocol/rounds.js';

/**
 * The live feed of round status, a read-only socket.io namespace for the dashboard and the
 * browser client page: what `GET /v1/rounds` and `GET /v1/health` publish, pushed as it changes
 * instead of polled. Like `GET /v1/rounds` it has two audiences: anyone gets the public view
 * (aggregates only, see shared/protocol/public-rounds.ts), a page that connects with the admin
 * token gets the full records. Pages validate every message with these schemas.
 */
export const FEED_NAMESPACE = '/live';

export const FEED_EVENTS = {
  /** Sent once on connect: the task, the counters and the recent round history. */
  snapshot: 'snapshot',
  /** The counters and the running round, whenever something changed (coalesced). */
  status: 'status',
  /** A round closed (committed or failed): its final record. */
  round: 'round',
} as const;

/** How many closed rounds a snapshot carries (the newest). */
export const SNAPSHOT_ROUNDS = 500;

/**
 * The socket.io handshake `auth` of a page: no token for the public view. A token that is given
 * but wrong is refused (connect_error), as `GET /v1/rounds` refuses it with 403.
 */
export const FeedAuth = z.object({ adminToken: z.string().optional() });
export type FeedAuth = z.infer<typeof FeedAuth>;

const counters = {
  currentVersion: z.number().int().nonnegative(),
  pendingRounds: z.number().int().nonnegative(),
  /** The privacy account, when differential privacy is on. */
  privacy: PrivacyStatusSchema.optional(),
};

export const PublicFeedStatus = z.object({
  access: z.literal('public'),
  ...counters,
  /** How many clients are connected; absent with differential privacy on (the population is not covered). */
  connectedClients: z.number().int().nonnegative().optional(),
  /** The round in progress (waiting, selecting, training or aggregating), if any. */
  running: PublicRoundSchema.nullable(),
});

export const AdminFeedStatus = z.object({
  access: z.literal('admin'),
  ...counters,
  connectedClients: z.array(z.string()),
  running: RoundRecordSchema.nullable(),
  /** With differential privacy on: the round fields the accountant does not cover. */
  outsideDpGuarantee: z.array(z.string()).optional(),
});

export const FeedStatus = z.discriminatedUnion('access', [PublicFeedStatus, AdminFeedStatus]);
export type FeedStatus = z.infer<typeof FeedStatus>;

export const FeedSnapshot = z.discriminatedUnion('access', [
  /** Closed rounds, oldest first. */
  PublicFeedStatus.extend({ task: TaskInfoSchema, rounds: z.array(PublicRoundSchema) }),
  AdminFeedStatus.extend({ task: TaskInfoSchema, rounds: z.array(RoundRecordSchema) }),
]);
export type FeedSnapshot = z.infer<typeof FeedSnapshot>;

export const FeedRound = z.discriminatedUnion('access', [
  z.object({ access: z.literal('public'), record: PublicRoundSchema }),
  z.object({ access: z.literal('admin'), record: RoundRecordSchema }),
]);
export type FeedRound = z.infer<typeof FeedRound>;

/** What the feed sends a page; pages send nothing (and validate what they get with the schemas above). */
export type FeedEvents = {
  [FEED_EVENTS.snapshot]: (snapshot: z.input<typeof FeedSnapshot>) => void;
  [FEED_EVENTS.status]: (status: z.input<typeof FeedStatus>) => void;
  [FEED_EVENTS.round]: (round: z.input<typeof FeedRound>) => void;
};
