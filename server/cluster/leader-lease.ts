import type { Redis } from 'ioredis';
import type { CommitFence, FenceStamp } from '../store/commit-fence.js';
import type { ClusterKeys } from './cluster-keys.js';

/** SET NX PX, and on success a new fencing token (INCR), in one step: no two holders ever share a token. */
const ACQUIRE = `
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return redis.call('INCR', KEYS[2])
end
return false`;

/** Extends the lease only while this node still holds it and its token is the newest. */
const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] and redis.call('GET', KEYS[2]) == ARGV[3] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0`;

/**
 * The commit check: this node holds the lease, its token is the newest, and enough of the lease is
 * left that the rename which follows cannot outlive it. Records the version with its token.
 */
const FENCE = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 'the lease is held by another node or by none' end
if redis.call('GET', KEYS[2]) ~= ARGV[2] then return 'fencing token ' .. ARGV[2] .. ' was superseded by ' .. tostring(redis.call('GET', KEYS[2])) end
local left = redis.call('PTTL', KEYS[1])
if left < tonumber(ARGV[3]) then return 'only ' .. left .. ' ms of the lease are left' end
redis.call('SET', KEYS[3], ARGV[4] .. ':' .. ARGV[2])
return 'ok'`;

/** Gives the lease up only if this node still holds it. */
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] and redis.call('GET', KEYS[2]) == ARGV[2] then
  return redis.call('DEL', KEYS[1])
end
return 0`;

/** A commit refused by the fence: the committer is no longer the leader. */
export class StaleLeaderError extends Error {
  override name = 'StaleLeaderError';
}

/**
 * The cluster's leader lease in Redis: a key holding the leader's node id with a TTL (SET NX PX),
 * renewed by its holder only (Lua, atomic), and a fencing token INCR'd on every acquisition. The
 * commit path checks the token atomically right before a version becomes visible (CommitFence),
 * so a leader that paused past its lease, and was replaced, cannot commit.
 */
export class LeaderLease implements CommitFence {
  private held: FenceStamp | undefined;

  constructor(
    private readonly redis: Redis,
    private readonly keys: ClusterKeys,
    readonly nodeId: string,
    readonly leaseMs: number,
    private readonly commitMarginMs: number,
  ) {}

  /** The fencing token while this node believes it holds the lease. */
  get token(): number | undefined {
    return this.held?.token;
  }

  /** Takes the lease if nobody holds it; the new fencing token, or undefined. */
  async tryAcquire(): Promise<number | undefined> {
    const token = (await this.redis.eval(ACQUIRE, 2, this.keys.lease, this.keys.token, this.nodeId, this.leaseMs)) as
      number | null;
    if (token === null) return undefined;
    this.held = { node: this.nodeId, token };
    return token;
  }

  /** Extends the lease; false (and the lease counts as lost) when another node took over meanwhile. */
  async renew(): Promise<boolean> {
    const held = this.held;
    if (!held) return false;
    const renewed = await this.redis.eval(
      RENEW,
      2,
      this.keys.lease,
      this.keys.token,
      this.nodeId,
      this.leaseMs,
      String(held.token),
    );
    if (renewed !== 1 && this.held === held) this.held = undefined;
    return renewed === 1;
  }

  /** Gives up the lease (a clean shutdown), so another node need not wait for it to expire. */
  async release(): Promise<void> {
    const held = this.held;
    this.held = undefined;
    if (held) await this.redis.eval(RELEASE, 2, this.keys.lease, this.keys.token, this.nodeId, String(held.token));
  }

  /** Forgets the lease locally without touching Redis (it was lost). */
  forget(): void {
    this.held = undefined;
  }

  stamp(): FenceStamp | undefined {
    return this.held ? { ...this.held } : undefined;
  }

  async check(stamp: FenceStamp, version: number): Promise<void> {
    const answer = await this.redis.eval(
      FENCE,
      3,
      this.keys.lease,
      this.keys.token,
      this.keys.committed,
      stamp.node,
      String(stamp.token),
      this.commitMarginMs,
      version,
    );
    if (answer !== 'ok')
      throw new StaleLeaderError(
        `node ${stamp.node} may not commit version ${version} under fencing token ${stamp.token}: ${String(answer)}`,
      );
  }
}
