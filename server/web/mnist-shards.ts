import { encodeShard } from '../../shared/data/shard-codec.js';
import { shard, type Dataset } from '../../shared/data/dataset.js';
import { loadMnist, MNIST_TRAIN } from '../../shared/data/mnist.node.js';

/** `/web/data/mnist/<i>/<n>`: shard i (0-based) of n of the built-in training digits, as in `--data mnist:<i>/<n>`. */
export const MNIST_SHARD_PATH = /^\/web\/data\/mnist\/(\d{1,5})\/(\d{1,5})$/;

/**
 * Encoded shards kept for later requests, least recently used first: encoding the whole set
 * (6.3 MB) takes ~180 ms, and every browser of a demo asks for its shard. All shards of one split
 * together are the size of the set, so the budget holds about five splits.
 */
const SHARD_CACHE_BYTES = 32 * 1024 * 1024;

/** Byte arrays by key, least recently used first, dropped from the front beyond a byte budget. */
export class BytesCache {
  private readonly entries = new Map<string, Uint8Array>();
  private bytes = 0;

  constructor(private readonly budget: number) {}

  /** The cached bytes for `key`, or what `make` returns (then cached). */
  get(key: string, make: () => Uint8Array): Uint8Array {
    const hit = this.entries.get(key);
    if (hit) {
      this.entries.delete(key);
      this.entries.set(key, hit);
      return hit;
    }
    const made = make();
    this.entries.set(key, made);
    this.bytes += made.byteLength;
    for (const [k, v] of this.entries) {
      if (this.bytes <= this.budget) break;
      this.entries.delete(k);
      this.bytes -= v.byteLength;
    }
    return made;
  }

  /** Bytes held now. */
  size(): number {
    return this.bytes;
  }
}

let train: Dataset | undefined;
const cache = new BytesCache(SHARD_CACHE_BYTES);

/**
 * The demo shard the browser page asks for with `data=mnist:<i>/<n>`: the same digits a Node
 * client gets for that spec. Throws a message for the user when i or n is out of range. The
 * bytes are shared between requests: do not modify them.
 */
export function mnistShardBytes(i: number, n: number): Uint8Array {
  if (n < 1 || n > MNIST_TRAIN) throw new RangeError(`shard count must be in 1..${MNIST_TRAIN}, got ${n}`);
  if (i >= n) throw new RangeError(`shard index must be in 0..${n - 1} for ${n} shards, got ${i}`);
  return cache.get(`${i}/${n}`, () => {
    train ??= loadMnist().train;
    return encodeShard(shard(train, i, n));
  });
}
