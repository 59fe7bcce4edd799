import type { Redis } from 'ioredis';
import type { ClusterKeys } from './cluster-keys.js';

/** Raises the target round by n from where the queue stands (the target or the last closed round, whichever is higher). */
const ADD = `
local target = tonumber(redis.call('GET', KEYS[1]) or '0')
local closed = tonumber(redis.call('GET', KEYS[2]) or '0')
local base = math.max(target, closed)
redis.call('SET', KEYS[1], base + tonumber(ARGV[1]))
return {base + 1, base + tonumber(ARGV[1]) - closed}`;

/** As ADD, once per cluster: only the first node's rounds.start counts. */
const ADD_AT_START = `
if not redis.call('SET', KEYS[3], '1', 'NX') then return false end
${ADD}`;

/** Records the leader's last closed round (never backwards). */
const CLOSED = `
local closed = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > closed then redis.call('SET', KEYS[1], ARGV[1]) end
return 1`;

/**
 * The cluster's round queue in Redis, so it outlives any leader: rounds run until the one numbered
 * `target` has closed. A leader that dies mid-round leaves the target where it was, so the next
 * leader runs the cut-off round again (its number was never closed).
 */
export class RoundQueue {
  constructor(
    private readonly redis: Redis,
    private readonly keys: ClusterKeys,
  ) {}

  /** Queues n rounds; the number the first of them gets and how many are pending now. */
  async add(n: number): Promise<{ firstRound: number; pendingRounds: number }> {
    const [firstRound, pendingRounds] = (await this.redis.eval(
      ADD,
      2,
      this.keys.targetRound,
      this.keys.lastClosedRound,
      n,
    )) as [number, number];
    return { firstRound, pendingRounds };
  }

  /** Queues a node's config rounds.start, unless some node already did for this cluster. */
  async queueAtStart(n: number): Promise<void> {
    await this.redis.eval(ADD_AT_START, 3, this.keys.targetRound, this.keys.lastClosedRound, this.keys.startQueued, n);
  }

  async closed(round: number): Promise<void> {
    await this.redis.eval(CLOSED, 1, this.keys.lastClosedRound, round);
  }

  async read(): Promise<{ target: number; lastClosed: number }> {
    const [target, lastClosed] = await this.redis.mget(this.keys.targetRound, this.keys.lastClosedRound);
    return { target: Number(target ?? 0), lastClosed: Number(lastClosed ?? 0) };
  }
}
