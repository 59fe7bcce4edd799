import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  assertLittleEndianHost,
  base64url,
  bytesEqual,
  concatBytes,
  decodeText,
  isAllZero,
  lengthPrefixed,
  lengthPrefixedText,
  randomBytes,
  splitLengthPrefixed,
  uint64,
} from '../../../shared/secagg/bytes.js';

const b = (...v: number[]) => Uint8Array.from(v);

describe('secagg byte helpers', () => {
  // First in this file, so the cache starts empty (vitest loads modules afresh per file) and the bound is exact.
  it('keeps at most 8,192 framed texts: the next new one starts the cache over', () => {
    const first = lengthPrefixedText('kept');
    // Cached: the same array, not only equal bytes.
    expect(lengthPrefixedText('kept')).toBe(first);
    for (let i = 1; i < 8192; i++) lengthPrefixedText(`filler-${i}`);
    // 8,192 texts held: still the same array.
    expect(lengthPrefixedText('kept')).toBe(first);
    lengthPrefixedText('one-more');
    const again = lengthPrefixedText('kept');
    expect(again).not.toBe(first);
    expect(again).toEqual(first);
  });

  afterEach(() => vi.restoreAllMocks());

  it('runs on this little-endian host', () => {
    expect(() => assertLittleEndianHost()).not.toThrow();
  });

  it('concatenates parts in order, and nothing to nothing', () => {
    expect(concatBytes([])).toEqual(new Uint8Array(0));
    expect(concatBytes([b(1, 2), b(), b(3), b(4, 5, 6)])).toEqual(b(1, 2, 3, 4, 5, 6));
  });

  it('prefixes a 4-byte big-endian length', () => {
    expect(lengthPrefixed(b())).toEqual(b(0, 0, 0, 0));
    const long = new Uint8Array(0x0102).fill(9);
    const framed = lengthPrefixed(long);
    expect(framed.length).toBe(4 + 0x0102);
    expect(framed.subarray(0, 4)).toEqual(b(0, 0, 1, 2));
    expect(framed.subarray(4)).toEqual(long);
    // UTF-8 bytes are counted, not characters.
    expect(lengthPrefixedText('aé')).toEqual(b(0, 0, 0, 3, 0x61, 0xc3, 0xa9));
  });

  it('frames a text the same way every time, also once many other texts were framed', () => {
    const first = lengthPrefixedText('client-007');
    expect(first).toEqual(concatBytes([b(0, 0, 0, 10), new TextEncoder().encode('client-007')]));
    expect(lengthPrefixedText('client-007')).toEqual(first);
    // More texts than the cache keeps: it starts over, and every framing stays right.
    const ids = Array.from({ length: 9000 }, (_, i) => `id-${i}`);
    const framed = ids.map((id) => Buffer.from(lengthPrefixedText(id)).toString('hex'));
    expect(framed).toEqual(ids.map((id) => Buffer.from(lengthPrefixed(new TextEncoder().encode(id))).toString('hex')));
    expect(lengthPrefixedText('client-007')).toEqual(first);
    expect(lengthPrefixedText('')).toEqual(b(0, 0, 0, 0));
  });

  it('writes unpadded base64url, the same as Node for every length and byte', () => {
    for (let length = 0; length <= 40; length++) {
      const bytes = Uint8Array.from({ length }, (_, i) => (i * 89 + length * 13) & 0xff);
      expect(base64url(bytes)).toBe(Buffer.from(bytes).toString('base64url'));
    }
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    expect(base64url(all)).toBe(Buffer.from(all).toString('base64url'));
    expect(base64url(b(0xfb, 0xff))).toBe('-_8');
  });

  it('writes non-negative safe integers as 8 big-endian bytes', () => {
    expect(uint64(0)).toEqual(new Uint8Array(8));
    expect(uint64(2 ** 32 + 0x0506)).toEqual(b(0, 0, 0, 1, 0, 0, 5, 6));
    expect(uint64(Number.MAX_SAFE_INTEGER)).toEqual(b(0, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff));
    expect(uint64(0xffffffff)).toEqual(b(0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff));
  });

  it('refuses a negative, fractional or unsafe integer', () => {
    for (const v of [-1, 1.5, 2 ** 53, NaN, Infinity]) {
      expect(() => uint64(v)).toThrow(new Error(`expected a non-negative safe integer, got ${v}`));
    }
  });

  it('splits length-prefixed fields back, also from a view into a larger buffer', () => {
    const framed = concatBytes([lengthPrefixed(b(1, 2)), lengthPrefixed(b()), lengthPrefixed(b(3))]);
    expect(splitLengthPrefixed(framed, 3)).toEqual([b(1, 2), b(), b(3)]);
    const padded = concatBytes([b(0xff, 0xff, 0xff), framed, b(0xee)]);
    expect(splitLengthPrefixed(padded.subarray(3, 3 + framed.length), 3)).toEqual([b(1, 2), b(), b(3)]);
    expect(splitLengthPrefixed(new Uint8Array(0), 0)).toEqual([]);
  });

  it('refuses fields that do not split exactly', () => {
    const framed = concatBytes([lengthPrefixed(b(1, 2)), lengthPrefixed(b(3))]);
    expect(() => splitLengthPrefixed(framed.subarray(0, 9), 2)).toThrow(new Error('truncated field 1'));
    expect(() => splitLengthPrefixed(framed.subarray(0, 6), 2)).toThrow(new Error('truncated field 1'));
    expect(() => splitLengthPrefixed(framed.subarray(0, 3), 1)).toThrow(new Error('truncated field 0'));
    expect(() => splitLengthPrefixed(framed.subarray(0, 10), 2)).toThrow(new Error('field 1 overruns the message'));
    expect(() => splitLengthPrefixed(framed.subarray(0, 5), 1)).toThrow(new Error('field 0 overruns the message'));
    expect(() => splitLengthPrefixed(framed, 1)).toThrow(new Error('5 trailing bytes'));
    expect(() => splitLengthPrefixed(concatBytes([framed, b(0)]), 2)).toThrow(new Error('1 trailing bytes'));
  });

  it('decodes UTF-8 and refuses malformed bytes', () => {
    expect(decodeText(b(0x61, 0xc3, 0xa9))).toBe('aé');
    expect(() => decodeText(b(0xc3))).toThrow();
  });

  it('tells all-zero bytes apart, whichever byte is set', () => {
    expect(isAllZero(new Uint8Array(0))).toBe(true);
    expect(isAllZero(new Uint8Array(5))).toBe(true);
    for (let i = 0; i < 5; i++) {
      const one = new Uint8Array(5);
      one[i] = 0x80;
      expect(isAllZero(one)).toBe(false);
    }
  });

  it('compares bytes for equality at every position and length', () => {
    expect(bytesEqual(b(), b())).toBe(true);
    expect(bytesEqual(b(1, 2, 3), b(1, 2, 3))).toBe(true);
    expect(bytesEqual(b(1, 2, 3), b(1, 2))).toBe(false);
    expect(bytesEqual(b(1, 2), b(1, 2, 3))).toBe(false);
    expect(bytesEqual(b(1, 2, 3), b(0, 2, 3))).toBe(false);
    expect(bytesEqual(b(1, 2, 3), b(1, 2, 4))).toBe(false);
  });

  it('fills any length from the CSPRNG, asking for at most 65,536 bytes a call', () => {
    const spy = vi.spyOn(globalThis.crypto, 'getRandomValues');
    expect(randomBytes(0)).toEqual(new Uint8Array(0));
    expect(spy).not.toHaveBeenCalled();
    const out = randomBytes(2 * 65536 + 10);
    expect(out.length).toBe(2 * 65536 + 10);
    expect(spy.mock.calls.map(([a]) => (a as Uint8Array).length)).toEqual([65536, 65536, 10]);
    // Every chunk was filled (all-zero chance 2^-80 for the shortest).
    for (const [start, end] of [
      [0, 65536],
      [65536, 131072],
      [131072, 131082],
    ])
      expect(isAllZero(out.subarray(start, end))).toBe(false);
  });
});
