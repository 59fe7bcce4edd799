import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { clusterKeys } from '../../../server/cluster/cluster-keys.js';
import { LeaderLease, StaleLeaderError } from '../../../server/cluster/leader-lease.js';
import { silentLogger } from '../../../server/logger.js';
import { saveVersion } from '../../../server/round/commit.js';
import { CheckpointStore } from '../../../server/store/checkpoint-store.js';
import { ServerSgd } from '../../../shared/aggregation/server-sgd.js';
import type { RoundRecord } from '../../../shared/protocol/rounds.js';
import { useRedis } from '../../helpers/use-redis.js';

const redis = useRedis({ flushBeforeEach: true });
const keys = clusterKeys('lease-test');
const LEASE_MS = 300;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const lease = (node: string, margin = 0) => new LeaderLease(redis.client, keys, node, LEASE_MS, margin);

describe('LeaderLease', () => {
  it('is held by one node at a time, and each acquisition gets a larger fencing token', async () => {
    const a = lease('a');
    const b = lease('b');
    expect(await a.tryAcquire()).toBe(1);
    expect(await b.tryAcquire()).toBeUndefined();
    expect(await a.renew()).toBe(true);
    expect(await redis.client.get(keys.lease)).toBe('a');
    await a.release();
    expect(await b.tryAcquire()).toBe(2);
    expect(b.stamp()).toEqual({ node: 'b', token: 2 });
  });

  it('cannot be renewed by a holder whose lease expired and was taken over', async () => {
    const a = lease('a');
    const b = lease('b');
    await a.tryAcquire();
    await sleep(LEASE_MS + 100);
    expect(await b.tryAcquire()).toBe(2);
    expect(await a.renew()).toBe(false);
    expect(a.token).toBeUndefined();
    expect(await redis.client.get(keys.lease)).toBe('b');
    // Nor released by it.
    await a.release();
    expect(await redis.client.get(keys.lease)).toBe('b');
  });

  it('approves a commit under the current token and records the version with it', async () => {
    const a = lease('a');
    await a.tryAcquire();
    await a.check(a.stamp()!, 7);
    expect(await redis.client.get(keys.committed)).toBe('7:1');
  });

  it('refuses a commit when too little of the lease is left for the rename to finish inside it', async () => {
    const a = lease('a', LEASE_MS * 10);
    await a.tryAcquire();
    await expect(a.check(a.stamp()!, 1)).rejects.toThrow(/ms of the lease are left/);
  });
});

describe('a fenced commit', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fedserve-fence-'));
    return () => rm(dir, { recursive: true, force: true });
  });

  const specs = [{ name: 'w', shape: [2] }];
  const record = (version: number): RoundRecord => ({
    round: version,
    status: 'committed',
    baseVersion: version - 1,
    version,
    participants: [],
    dropped: [],
    refused: [],
    contributions: [],
    numExamples: 0,
    updateBytes: 0,
    startedAt: new Date(0).toISOString(),
    phaseMs: {},
    durationMs: 0,
  });
  const commit = (store: CheckpointStore, l: LeaderLease, version: number) =>
    saveVersion(
      store,
      { modelTopology: {}, weightSpecs: specs } as never,
      { version, weights: new Float32Array([1, 2]), record: record(version) },
      new ServerSgd(1, 0),
      undefined,
      l,
    );

  it('by the current leader is written with its node and token', async () => {
    const store = new CheckpointStore(dir, { logger: silentLogger() });
    const a = lease('a');
    await a.tryAcquire();
    await commit(store, a, 1);
    expect((await store.load(1)).state?.committedBy).toEqual({ node: 'a', token: 1 });
  });

  it('by a stale leader (paused past its lease, replaced) is refused and writes nothing', async () => {
    const store = new CheckpointStore(dir, { logger: silentLogger() });
    const stale = lease('a');
    await stale.tryAcquire();
    await sleep(LEASE_MS + 100);
    const fresh = lease('b');
    expect(await fresh.tryAcquire()).toBe(2);
    // The stale leader has not noticed (no renewal since): it still carries token 1.
    expect(stale.stamp()).toEqual({ node: 'a', token: 1 });
    await expect(commit(store, stale, 1)).rejects.toBeInstanceOf(StaleLeaderError);
    expect(await store.versions()).toEqual([]);
    expect(await readdir(join(dir, 'versions'))).toEqual([]);
    expect(await redis.client.get(keys.committed)).toBeNull();
    await commit(store, fresh, 1);
    expect(await store.versions()).toEqual([1]);
  });

  it('by a node that holds no lease is refused before anything is written', async () => {
    const store = new CheckpointStore(dir, { logger: silentLogger() });
    await expect(commit(store, lease('a'), 1)).rejects.toThrow(/holds no leader lease/);
    expect(await store.versions()).toEqual([]);
  });
});
