import { existsSync, createReadStream, openSync, readSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { Dataset } from './dataset.js';
import { IdxDecoder, type IdxArray } from './idx.js';

/** Whether the file starts with the gzip magic (1f 8b): the extension is not trusted. */
function isGzip(path: string): boolean {
  const fd = openSync(path, 'r');
  try {
    const head = Buffer.alloc(2);
    return readSync(fd, head, 0, 2, 0) === 2 && head[0] === 0x1f && head[1] === 0x8b;
  } finally {
    closeSync(fd);
  }
}

/** Streams an IDX file, gzipped or not, through the decoder (never holding the compressed file whole). */
export async function readIdxFile(path: string): Promise<IdxArray> {
  if (!existsSync(path)) throw new Error(`IDX file ${path} does not exist`);
  const gz = isGzip(path);
  const decoder = new IdxDecoder(path);
  const file = createReadStream(path);
  const stream: Readable = gz ? file.pipe(createGunzip()) : file;
  try {
    for await (const chunk of stream) decoder.push(chunk as Buffer);
  } catch (e) {
    file.destroy();
    const msg = (e as Error).message;
    throw gz && !msg.startsWith(path) ? new Error(`${path}: gzip data is corrupt: ${msg}`) : e;
  }
  return decoder.finish();
}

/**
 * An image IDX file (n x rows x cols [x channels], or n x features) and its label IDX file (n) as a
 * dataset: pixels scaled to [0, 1], grayscale images given one channel, classes 0..max label.
 */
export async function loadIdxDataset(imagesPath: string, labelsPath: string): Promise<Dataset> {
  const [images, labels] = await Promise.all([readIdxFile(imagesPath), readIdxFile(labelsPath)]);
  if (labels.dims.length !== 1) {
    throw new Error(
      `${labelsPath}: a label file has one dimension, this one has ${labels.dims.length} (${labels.dims.join(' x ')}); are images and labels swapped?`,
    );
  }
  if (images.dims.length < 2)
    throw new Error(`${imagesPath}: an image file has at least two dimensions (examples x features), this one has 1`);
  const n = images.dims[0];
  if (labels.dims[0] !== n)
    throw new Error(`${imagesPath} holds ${n} examples but ${labelsPath} holds ${labels.dims[0]} labels`);
  const rest = images.dims.slice(1);
  const inputShape = rest.length === 2 ? [...rest, 1] : rest;
  const x = new Float32Array(images.data.length);
  for (let i = 0; i < x.length; i++) x[i] = images.data[i] / 255;
  const y = Int32Array.from(labels.data);
  let max = 0;
  for (const l of labels.data) max = Math.max(max, l);
  return { x, y, n, inputShape, numClasses: Math.max(2, max + 1) };
}

/** Where Debian's dataset-fashion-mnist package installs the files; FEDSERVE_FASHION_MNIST_DIR overrides it. */
export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

export type FashionMnistSplit = 'train' | 'test';

export function fashionMnistFiles(
  split: FashionMnistSplit,
  dir = process.env.FEDSERVE_FASHION_MNIST_DIR ?? FASHION_MNIST_DIR,
): { images: string; labels: string } {
  const prefix = split === 'train' ? 'train' : 't10k';
  const images = join(dir, `${prefix}-images-idx3-ubyte.gz`);
  const labels = join(dir, `${prefix}-labels-idx1-ubyte.gz`);
  for (const f of [images, labels]) {
    if (!existsSync(f)) {
      throw new Error(
        `Fashion-MNIST is not installed: ${f} is missing. Install it with 'apt-get install dataset-fashion-mnist' (Debian), or point FEDSERVE_FASHION_MNIST_DIR at a folder holding the four IDX files`,
      );
    }
  }
  return { images, labels };
}

const cache = new Map<string, Promise<Dataset>>();

/** The 60,000 training or 10,000 test images of the installed Fashion-MNIST (read once per process). */
export function loadFashionMnist(split: FashionMnistSplit): Promise<Dataset> {
  const { images, labels } = fashionMnistFiles(split);
  const key = `${images}\n${labels}`;
  let loaded = cache.get(key);
  if (!loaded) {
    loaded = loadIdxDataset(images, labels);
    loaded.catch(() => cache.delete(key));
    cache.set(key, loaded);
  }
  return loaded;
}
