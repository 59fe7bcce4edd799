import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { useRedis, type UsedRedis } from './use-redis.js';

/** What the first block saw, checked by the second once the first block's afterAll ran. */
let seen: { url: string; client: Redis; own: Redis } | undefined;

function readEarly(redis: UsedRedis): unknown {
  try {
    return redis.url;
  } catch (e) {
    return e;
  }
}

/** True once the connection has ended (its close is seen a little after disconnect), false if still open after `ms`. */
function ended(connection: Redis, ms = 5_000): Promise<boolean> {
  if (connection.status === 'end') return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    connection.once('end', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

describe('useRedis', () => {
  const redis = useRedis({ flushBeforeEach: true });
  // Read while the file is collected, before any hook ran.
  const early = readEarly(redis);

  it('refuses to name a server before its beforeAll started one', () => {
    expect(early).toBeInstanceOf(Error);
    expect((early as Error).message).toMatch(/only inside the tests and hooks after useRedis's beforeAll/);
  });

  it('serves a running redis-server through one shared connection and new ones of their own', async () => {
    expect(redis.url).toMatch(/^redis:\/\/127\.0\.0\.1:\d+$/);
    expect(redis.client).toBe(redis.client);
    const own = redis.connect();
    expect(own).not.toBe(redis.client);
    expect(await redis.client.set('k', 'v')).toBe('OK');
    expect(await own.get('k')).toBe('v');
    seen = { url: redis.url, client: redis.client, own };
  });

  it('empties the server before each test when asked to', async () => {
    expect(await redis.client.get('k')).toBeNull();
  });
});

describe('useRedis after its block', () => {
  it('has closed the connections it handed out and stopped the server', async () => {
    expect(seen).toBeDefined();
    expect(await ended(seen!.client)).toBe(true);
    expect(await ended(seen!.own)).toBe(true);
    const after = new Redis(seen!.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    after.on('error', () => undefined);
    await expect(after.connect()).rejects.toThrow();
    after.disconnect();
  });
});

describe('useRedis without flushBeforeEach', () => {
  const redis = useRedis();

  it('keeps what an earlier test wrote', async () => {
    await redis.client.set('kept', '1');
  });

  it('so a later test of the same block still reads it', async () => {
    expect(await redis.client.get('kept')).toBe('1');
  });
});
