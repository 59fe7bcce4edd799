/** Who committed a version, under which fencing token: recorded in the version's state as `committedBy`. */
export interface FenceStamp {
  node: string;
  token: number;
}

/**
 * The check a cluster leader's commit passes right before its version becomes visible
 * (server/cluster/leader-lease.ts): a leader that lost its lease, or whose fencing token was
 * superseded, is refused, and the version is not written.
 */
export interface CommitFence {
  /** The committer's current stamp, or undefined when it holds no lease (its commit is refused). */
  stamp(): FenceStamp | undefined;
  /** Rejects, naming why, when `stamp` may no longer commit `version`. */
  check(stamp: FenceStamp, version: number): Promise<void>;
}
