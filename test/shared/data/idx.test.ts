import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDataSpec } from '../../../shared/data/data-spec.node.js';
import { fashionMnistFiles, loadIdxDataset, readIdxFile } from '../../../shared/data/idx-file.node.js';
import { encodeIdx, IdxDecoder } from '../../../shared/data/idx.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fedserve-idx-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** Five 2x3 "images" whose pixels encode their index, labels 0..4 cycling over 3 classes. */
const pixels = Array.from({ length: 5 * 6 }, (_, i) => (i * 7) % 256);
const labels = [0, 1, 2, 0, 1];

async function write(name: string, bytes: Uint8Array): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, bytes);
  return path;
}

describe('IDX decoder', () => {
  it('decodes byte by byte the same as in one chunk', () => {
    const bytes = encodeIdx([5, 2, 3], pixels);
    const whole = new IdxDecoder('t');
    whole.push(bytes);
    const split = new IdxDecoder('t');
    for (const b of bytes) split.push(Uint8Array.of(b));
    expect(split.finish()).toEqual(whole.finish());
    expect(whole.finish().dims).toEqual([5, 2, 3]);
    expect(Array.from(whole.finish().data)).toEqual(pixels);
  });

  it.each([
    ['a bad magic', Uint8Array.of(1, 2, 8, 1, 0, 0, 0, 1, 0), 't: not an IDX file (magic 01 02 08 01'],
    [
      'an unsupported type',
      Uint8Array.of(0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0, 0),
      'IDX value type float32 (0xd) is not supported',
    ],
    ['an unknown type', Uint8Array.of(0, 0, 0x42, 1), 'unknown IDX value type 0x42'],
    ['zero dimensions', Uint8Array.of(0, 0, 8, 0), 'declares 0 dimensions'],
    ['an empty dimension', Uint8Array.of(0, 0, 8, 2, 0, 0, 0, 3, 0, 0, 0, 0), 'declares an empty dimension (3 x 0)'],
    ['too many values', Uint8Array.of(0, 0, 8, 2, 0, 1, 0, 0, 0, 1, 0, 0), 'more than the limit'],
    [
      'extra bytes',
      Uint8Array.of(0, 0, 8, 1, 0, 0, 0, 2, 5, 6, 7),
      'more data than its header declares (dimensions 2, 2 values)',
    ],
  ])('refuses %s', (_, bytes, message) => {
    const d = new IdxDecoder('t');
    expect(() => {
      d.push(bytes);
      d.finish();
    }).toThrow(message);
  });

  it('refuses a truncated body and a truncated header on finish', () => {
    const body = new IdxDecoder('t');
    body.push(encodeIdx([5, 2, 3], pixels).subarray(0, 30));
    expect(() => body.finish()).toThrow(
      't: truncated: its header declares dimensions 5 x 2 x 3 = 30 values, the file holds 14',
    );
    const header = new IdxDecoder('t');
    header.push(Uint8Array.of(0, 0, 8, 3, 0, 0));
    expect(() => header.finish()).toThrow('not an IDX file or truncated header (6 bytes');
  });
});

describe('IDX files', () => {
  it('streams gzipped and plain files to the same dataset, pixels scaled to [0, 1] with one channel', async () => {
    const images = encodeIdx([5, 2, 3], pixels);
    const lbl = encodeIdx([5], labels);
    const plain = await loadIdxDataset(await write('i', images), await write('l', lbl));
    const gz = await loadIdxDataset(await write('i.gz', gzipSync(images)), await write('l.gz', gzipSync(lbl)));
    expect(gz).toEqual(plain);
    expect(plain.n).toBe(5);
    expect(plain.inputShape).toEqual([2, 3, 1]);
    expect(plain.numClasses).toBe(3);
    expect(Array.from(plain.y)).toEqual(labels);
    expect(plain.x[7]).toBeCloseTo(49 / 255, 6);
  });

  it('loads idx:IMAGES,LABELS[:i/n] specs, sharding the examples', async () => {
    const i = await write('s-i.gz', gzipSync(encodeIdx([5, 2, 3], pixels)));
    const l = await write('s-l', encodeIdx([5], labels));
    const all = await loadDataSpec(`idx:${i},${l}`);
    expect(all.n).toBe(5);
    const part = await loadDataSpec(`idx:${i},${l}:1/2`);
    expect(part.n).toBe(3);
    expect(Array.from(part.y)).toEqual([2, 0, 1]);
    expect(part.numClasses).toBe(3);
  });

  it('refuses mismatched, swapped, missing and corrupt files by name', async () => {
    const i = await write('m-i', encodeIdx([5, 2, 3], pixels));
    const l4 = await write('m-l4', encodeIdx([4], labels.slice(0, 4)));
    await expect(loadIdxDataset(i, l4)).rejects.toThrow(`${i} holds 5 examples but ${l4} holds 4 labels`);
    await expect(loadIdxDataset(l4, i)).rejects.toThrow(
      `${i}: a label file has one dimension, this one has 3 (5 x 2 x 3); are images and labels swapped?`,
    );
    await expect(readIdxFile(join(dir, 'none.gz'))).rejects.toThrow(`IDX file ${join(dir, 'none.gz')} does not exist`);
    const corrupt = gzipSync(encodeIdx([5, 2, 3], pixels));
    const bad = await write('bad.gz', corrupt.subarray(0, corrupt.length - 12));
    await expect(readIdxFile(bad)).rejects.toThrow(bad);
  });

  it('names the Debian package when Fashion-MNIST is not installed', () => {
    expect(() => fashionMnistFiles('train', join(dir, 'no-such-dir'))).toThrow(
      /Fashion-MNIST is not installed: .*train-images-idx3-ubyte\.gz is missing\. Install it with 'apt-get install dataset-fashion-mnist'/,
    );
  });

  it('reads fashion-mnist specs from the package folder (FEDSERVE_FASHION_MNIST_DIR in this test)', async () => {
    const fm = join(dir, 'fm');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(fm);
    const img = (n: number) => gzipSync(encodeIdx([n, 28, 28], new Uint8Array(n * 784).fill(255)));
    const lab = (n: number) =>
      gzipSync(
        encodeIdx(
          [n],
          Array.from({ length: n }, (_, k) => k % 10),
        ),
      );
    await writeFile(join(fm, 'train-images-idx3-ubyte.gz'), img(20));
    await writeFile(join(fm, 'train-labels-idx1-ubyte.gz'), lab(20));
    await writeFile(join(fm, 't10k-images-idx3-ubyte.gz'), img(10));
    await writeFile(join(fm, 't10k-labels-idx1-ubyte.gz'), lab(10));
    const before = process.env.FEDSERVE_FASHION_MNIST_DIR;
    process.env.FEDSERVE_FASHION_MNIST_DIR = fm;
    try {
      expect((await loadDataSpec('fashion-mnist:train')).n).toBe(20);
      expect((await loadDataSpec('fashion-mnist:test')).n).toBe(10);
      const shard = await loadDataSpec('fashion-mnist:3/4');
      expect(shard.n).toBe(5);
      expect(shard.inputShape).toEqual([28, 28, 1]);
      expect(shard.numClasses).toBe(10);
      expect(shard.x[0]).toBe(1);
    } finally {
      if (before === undefined) delete process.env.FEDSERVE_FASHION_MNIST_DIR;
      else process.env.FEDSERVE_FASHION_MNIST_DIR = before;
    }
  });
});
