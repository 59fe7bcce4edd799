import { describe, expect, it } from 'vitest';
import { decodeShard, encodeShard, ShardFormatError } from '../../../shared/data/shard-codec.js';
import { shard, type Dataset } from '../../../shared/data/dataset.js';
import { loadMnist } from '../../../shared/data/mnist.node.js';

describe('demo shard codec', () => {
  it('round-trips a real MNIST shard exactly, at one byte per pixel', () => {
    const ds = shard(loadMnist().train, 3, 40);
    const bytes = encodeShard(ds);
    expect(bytes.byteLength).toBeLessThan(ds.n * 785 + 2048);
    const back = decodeShard(bytes);
    expect(back.n).toBe(ds.n);
    expect(back.inputShape).toEqual([28, 28, 1]);
    expect(back.numClasses).toBe(10);
    expect(back.y).toEqual(ds.y);
    expect(Buffer.from(back.x.buffer).equals(Buffer.from(ds.x.buffer))).toBe(true);
  });

  it('decodes from a view at an odd offset of a larger buffer', () => {
    const ds: Dataset = {
      x: Float32Array.from([0, 0.5, 1, 0.5]),
      y: Int32Array.from([1, 0]),
      n: 2,
      inputShape: [2],
      numClasses: 2,
    };
    const bytes = encodeShard(ds);
    const padded = new Uint8Array(bytes.length + 3);
    padded.set(bytes, 3);
    expect(decodeShard(padded.subarray(3))).toEqual(ds);
  });

  it('refuses what one byte per value cannot carry', () => {
    const many: Dataset = {
      x: Float32Array.from({ length: 300 }, (_, i) => i),
      y: Int32Array.from([0]),
      n: 1,
      inputShape: [300],
      numClasses: 2,
    };
    expect(() => encodeShard(many)).toThrow(/more than 256 distinct/);
  });

  it('names what is wrong with a damaged shard', () => {
    const ds: Dataset = { x: Float32Array.from([0, 1]), y: Int32Array.from([1]), n: 1, inputShape: [2], numClasses: 2 };
    const good = encodeShard(ds);
    expect(() => decodeShard(good.subarray(0, 10))).toThrow(ShardFormatError);
    expect(() => decodeShard(good.subarray(0, good.length - 1))).toThrow(/bytes, the header implies/);
    const magic = good.slice();
    magic[0] ^= 1;
    expect(() => decodeShard(magic)).toThrow(/wrong magic/);
    const label = good.slice();
    label[label.length - 1] = 7;
    expect(() => decodeShard(label)).toThrow(/label 7, the shard has 2 classes/);
    const index = good.slice();
    index[index.length - 2] = 9;
    expect(() => decodeShard(index)).toThrow(/palette entry 9 of 2/);
  });
});
