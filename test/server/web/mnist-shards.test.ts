import { describe, expect, it } from 'vitest';
import { decodeShard } from '../../../shared/data/shard-codec.js';
import { BytesCache, mnistShardBytes } from '../../../server/web/mnist-shards.js';

describe('demo MNIST shards', () => {
  it('encodes a shard once and serves the same bytes to later requests', () => {
    const first = mnistShardBytes(0, 1);
    expect(mnistShardBytes(0, 1)).toBe(first);
    expect(decodeShard(first).n).toBe(8000);
  });

  it('keeps the cache within its byte budget, dropping the least recently used entry', () => {
    const cache = new BytesCache(10);
    let made = 0;
    const make = (size: number) => () => (made++, new Uint8Array(size));
    const a = cache.get('a', make(4));
    cache.get('b', make(4));
    expect(cache.get('a', make(4))).toBe(a);
    // c pushes the total to 12: b, the least recently used, goes.
    cache.get('c', make(4));
    expect(cache.size()).toBe(8);
    expect(cache.get('a', make(4))).toBe(a);
    expect(made).toBe(3);
    cache.get('b', make(4));
    expect(made).toBe(4);
  });

  it('refuses shard numbers out of range', () => {
    expect(() => mnistShardBytes(3, 3)).toThrow(/shard index must be in 0..2 for 3 shards, got 3/);
    expect(() => mnistShardBytes(0, 0)).toThrow(/shard count must be in 1..8000/);
  });
});
