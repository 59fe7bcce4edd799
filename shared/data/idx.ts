/**
 * The IDX format (MNIST, Fashion-MNIST, EMNIST, KMNIST): a 4-byte magic (0, 0, type, number of
 * dimensions), one big-endian uint32 per dimension, then the values row-major. Only unsigned bytes
 * (type 0x08) are accepted: every dataset shipped in this format uses them.
 */
export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

const UBYTE = 0x08;
const TYPE_NAMES: Record<number, string> = {
  0x09: 'signed byte',
  0x0b: 'int16',
  0x0c: 'int32',
  0x0d: 'float32',
  0x0e: 'float64',
};
/** Larger arrays are refused before allocating: a corrupt header must not ask for gigabytes. */
export const IDX_MAX_VALUES = 1 << 30;

/**
 * Decodes an IDX file from chunks as they arrive: the header is validated as soon as its bytes are
 * in, the output is allocated once from the declared dimensions, and extra or missing bytes are errors.
 */
export class IdxDecoder {
  private header: Uint8Array = new Uint8Array(0);
  private dims: number[] | undefined;
  private data: Uint8Array | undefined;
  private filled = 0;

  constructor(private readonly source: string) {}

  push(chunk: Uint8Array): void {
    let rest = chunk;
    if (!this.data) {
      const joined = new Uint8Array(this.header.length + rest.length);
      joined.set(this.header);
      joined.set(rest, this.header.length);
      const used = this.readHeader(joined);
      if (used === undefined) {
        this.header = joined;
        return;
      }
      this.header = new Uint8Array(0);
      rest = joined.subarray(used);
    }
    const data = this.data!;
    if (this.filled + rest.length > data.length) {
      throw new Error(`${this.source}: more data than its header declares (${this.describe()}, ${data.length} values)`);
    }
    data.set(rest, this.filled);
    this.filled += rest.length;
  }

  finish(): IdxArray {
    if (!this.data) {
      throw new Error(
        `${this.source}: not an IDX file or truncated header (${this.header.length} bytes; an IDX header has at least 8)`,
      );
    }
    if (this.filled !== this.data.length) {
      throw new Error(
        `${this.source}: truncated: its header declares ${this.describe()} = ${this.data.length} values, the file holds ${this.filled}`,
      );
    }
    return { dims: this.dims!, data: this.data };
  }

  private describe(): string {
    return `dimensions ${this.dims!.join(' x ')}`;
  }

  /** Bytes used by the header, or undefined while more are needed. */
  private readHeader(bytes: Uint8Array): number | undefined {
    if (bytes.length < 4) return undefined;
    if (bytes[0] !== 0 || bytes[1] !== 0) {
      const hex = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
      throw new Error(`${this.source}: not an IDX file (magic ${hex}; expected 00 00 <type> <dimensions>)`);
    }
    const type = bytes[2];
    if (type !== UBYTE) {
      const name = TYPE_NAMES[type];
      throw new Error(
        name
          ? `${this.source}: IDX value type ${name} (0x${type.toString(16)}) is not supported; only unsigned bytes (0x08)`
          : `${this.source}: unknown IDX value type 0x${type.toString(16).padStart(2, '0')}`,
      );
    }
    const rank = bytes[3];
    if (rank < 1) throw new Error(`${this.source}: IDX header declares 0 dimensions`);
    const headerBytes = 4 + 4 * rank;
    if (bytes.length < headerBytes) return undefined;
    const view = new DataView(bytes.buffer, bytes.byteOffset, headerBytes);
    const dims = Array.from({ length: rank }, (_, k) => view.getUint32(4 + 4 * k, false));
    const total = dims.reduce((a, b) => a * b, 1);
    if (dims.some((d) => d === 0))
      throw new Error(`${this.source}: IDX header declares an empty dimension (${dims.join(' x ')})`);
    if (total > IDX_MAX_VALUES) {
      throw new Error(
        `${this.source}: IDX header declares ${dims.join(' x ')} = ${total} values, more than the limit of ${IDX_MAX_VALUES}`,
      );
    }
    this.dims = dims;
    this.data = new Uint8Array(total);
    return headerBytes;
  }
}

/** Encodes unsigned bytes as an IDX file (tests and tools write small datasets with it). */
export function encodeIdx(dims: number[], data: ArrayLike<number>): Uint8Array {
  const total = dims.reduce((a, b) => a * b, 1);
  if (total !== data.length)
    throw new Error(`encodeIdx: dimensions ${dims.join(' x ')} need ${total} values, got ${data.length}`);
  const out = new Uint8Array(4 + 4 * dims.length + total);
  const view = new DataView(out.buffer);
  out[2] = UBYTE;
  out[3] = dims.length;
  dims.forEach((d, k) => view.setUint32(4 + 4 * k, d, false));
  out.set(data, 4 + 4 * dims.length);
  return out;
}
