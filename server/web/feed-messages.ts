import { z } from 'zod';
import { TaskInfo } from '../../shared/protocol/messages.js';
import { PrivacyStatusSchema, RoundRecordSchema } from '../../shared/protocol/rounds.js';

/**
 * The live feed of round status, a read-only socket.io namespace for the dashboard and the
 * browser client page. It carries what `GET /v1/rounds` and `GET /v1/health` already publish,
 * pushed as it changes instead of polled. Pages validate every message with these schemas.
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

export const FeedStatus = z.object({
  currentVersion: z.number().int().nonnegative(),
  pendingRounds: z.number().int().nonnegative(),
  connectedClients: z.array(z.string()),
  /** The round in progress (waiting, selecting, training or aggregating), if any. */
  running: RoundRecordSchema.nullable(),
  /** The privacy account, when differential privacy is on. */
  privacy: PrivacyStatusSchema.optional(),
});
export type FeedStatus = z.infer<typeof FeedStatus>;

export const FeedSnapshot = FeedStatus.extend({
  task: TaskInfo,
  /** Closed rounds, oldest first. */
  rounds: z.array(RoundRecordSchema),
});
export type FeedSnapshot = z.infer<typeof FeedSnapshot>;

export const FeedRound = RoundRecordSchema;
