import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { startRedis } from './redis-server.js';

describe('startRedis', () => {
  it('runs a real redis-server on a free port that answers and is gone after stop', async () => {
    const redis = await startRedis();
    const client = new Redis(redis.url, { maxRetriesPerRequest: 0 });
    expect(await client.set('k', 'v')).toBe('OK');
    expect(await client.get('k')).toBe('v');
    client.disconnect();
    await redis.stop();
    const after = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    after.on('error', () => undefined);
    await expect(after.connect()).rejects.toThrow();
    after.disconnect();
  });
});
