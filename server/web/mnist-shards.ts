import { encodeShard } from '../../client/browser/shard-codec.js';
import { shard, type Dataset } from '../../shared/data/dataset.js';
import { loadMnist, MNIST_TRAIN } from '../../shared/data/mnist.js';

/** `/web/data/mnist/<i>/<n>`: shard i (0-based) of n of the built-in training digits, as in `--data mnist:<i>/<n>`. */
export const MNIST_SHARD_PATH = /^\/web\/data\/mnist\/(\d{1,5})\/(\d{1,5})$/;

let train: Dataset | undefined;

/**
 * The demo shard the browser page asks for with `data=mnist:<i>/<n>`: the same digits a Node
 * client gets for that spec. Throws a message for the user when i or n is out of range.
 */
export function mnistShardBytes(i: number, n: number): Uint8Array {
  if (n < 1 || n > MNIST_TRAIN) throw new RangeError(`shard count must be in 1..${MNIST_TRAIN}, got ${n}`);
  if (i >= n) throw new RangeError(`shard index must be in 0..${n - 1} for ${n} shards, got ${i}`);
  train ??= loadMnist().train;
  return encodeShard(shard(train, i, n));
}
