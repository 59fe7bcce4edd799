import { featureSize, type Dataset } from './dataset.js';

/**
 * The binary format of the demo data shards the coordinator serves to browser clients (the page
 * has no file system to read the built-in digits from). Feature values are palette-coded: the
 * built-in MNIST digits take 256 distinct values, so one byte per pixel carries them exactly and
 * a 200-digit shard is 157 KB instead of 627 KB of float32.
 *
 * Layout, little-endian: 'FSDS' | u32 version | u32 n | u32 numClasses | u32 rank | u32 dims[rank]
 * | u32 paletteSize | f32 palette[paletteSize] | u8 featureIndex[n * prod(dims)] | u8 label[n]
 */

const MAGIC = 0x53445346; // 'FSDS' read as a little-endian u32
const VERSION = 1;
const MAX_PALETTE = 256;

export class ShardFormatError extends Error {
  constructor(message: string) {
    super(`demo data shard: ${message}`);
    this.name = 'ShardFormatError';
  }
}

/** Encodes `ds`; throws when its values or labels do not fit in one byte each. */
export function encodeShard(ds: Dataset): Uint8Array {
  const f = featureSize(ds);
  if (ds.numClasses > 256) throw new ShardFormatError(`${ds.numClasses} classes do not fit one byte per label`);
  const paletteIndex = new Map<number, number>();
  const palette: number[] = [];
  const indices = new Uint8Array(ds.n * f);
  for (let i = 0; i < indices.length; i++) {
    const v = ds.x[i];
    let k = paletteIndex.get(v);
    if (k === undefined) {
      if (palette.length === MAX_PALETTE)
        throw new ShardFormatError(`more than ${MAX_PALETTE} distinct feature values`);
      k = palette.length;
      paletteIndex.set(v, k);
      palette.push(v);
    }
    indices[i] = k;
  }
  const headerWords = 5 + ds.inputShape.length + 1;
  const paletteOffset = headerWords * 4;
  const indexOffset = paletteOffset + palette.length * 4;
  const labelOffset = indexOffset + indices.length;
  const out = new Uint8Array(labelOffset + ds.n);
  const view = new DataView(out.buffer);
  const words = [MAGIC, VERSION, ds.n, ds.numClasses, ds.inputShape.length, ...ds.inputShape, palette.length];
  words.forEach((w, i) => view.setUint32(i * 4, w, true));
  palette.forEach((v, i) => view.setFloat32(paletteOffset + i * 4, v, true));
  out.set(indices, indexOffset);
  for (let i = 0; i < ds.n; i++) out[labelOffset + i] = ds.y[i];
  return out;
}

/** Decodes a shard, checking every length and index against the header. */
export function decodeShard(bytes: Uint8Array): Dataset {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const word = (i: number) => {
    if ((i + 1) * 4 > bytes.byteLength) throw new ShardFormatError(`truncated header (${bytes.byteLength} bytes)`);
    return view.getUint32(i * 4, true);
  };
  if (word(0) !== MAGIC) throw new ShardFormatError('not a shard (wrong magic bytes)');
  if (word(1) !== VERSION) throw new ShardFormatError(`format version ${word(1)}, this page reads version ${VERSION}`);
  const n = word(2);
  const numClasses = word(3);
  const rank = word(4);
  if (rank < 1 || rank > 8) throw new ShardFormatError(`example rank ${rank} is out of range 1..8`);
  const inputShape = Array.from({ length: rank }, (_, i) => word(5 + i));
  const paletteSize = word(5 + rank);
  if (paletteSize < 1 || paletteSize > MAX_PALETTE)
    throw new ShardFormatError(`palette of ${paletteSize} values is out of range 1..${MAX_PALETTE}`);
  const f = inputShape.reduce((a, b) => a * b, 1);
  const paletteOffset = (6 + rank) * 4;
  const indexOffset = paletteOffset + paletteSize * 4;
  const labelOffset = indexOffset + n * f;
  if (bytes.byteLength !== labelOffset + n) {
    throw new ShardFormatError(`${bytes.byteLength} bytes, the header implies ${labelOffset + n}`);
  }
  const palette = Float32Array.from({ length: paletteSize }, (_, i) => view.getFloat32(paletteOffset + i * 4, true));
  const x = new Float32Array(n * f);
  for (let i = 0; i < x.length; i++) {
    const k = bytes[indexOffset + i];
    if (k >= paletteSize) throw new ShardFormatError(`feature ${i} refers to palette entry ${k} of ${paletteSize}`);
    x[i] = palette[k];
  }
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = bytes[labelOffset + i];
    if (y[i] >= numClasses)
      throw new ShardFormatError(`example ${i} has label ${y[i]}, the shard has ${numClasses} classes`);
  }
  return { x, y, n, inputShape, numClasses };
}
