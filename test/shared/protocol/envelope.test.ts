import { describe, expect, it } from 'vitest';
import { decodeEnvelope, encodeEnvelope, EnvelopeError, VIEW_BYTES } from '../../../shared/protocol/envelope.js';

/** An envelope built by hand: header announcing `announced` bytes (default: the JSON's), the JSON, the byte region. */
function craft(json: string, region: ArrayLike<number> = [], announced?: number): Uint8Array {
  const text = new TextEncoder().encode(json);
  const out = new Uint8Array(4 + text.length + region.length);
  new DataView(out.buffer).setUint32(0, announced ?? text.length, true);
  out.set(text, 4);
  out.set(region, 4 + text.length);
  return out;
}

const bytes = (...values: number[]) => Uint8Array.from(values);

describe('envelope round trips', () => {
  it('keeps a nested value with byte fields at any depth, as Uint8Array copies', () => {
    const value = {
      type: 'secagg/peer-keys',
      round: 3,
      ok: true,
      none: null,
      text: 'naïve ✓',
      peers: [
        { id: 'a', encryptionKey: bytes(1, 2, 3), nested: { deeper: [bytes(4), 'x', -1.5] } },
        { id: 'b', encryptionKey: bytes(), nested: { deeper: [] } },
      ],
    };
    const decoded = decodeEnvelope(encodeEnvelope(value));
    expect(decoded).toEqual(value);
    const key = (decoded as typeof value).peers[0].encryptionKey;
    expect(key).toBeInstanceOf(Uint8Array);
    // Owns its bytes: an aligned, exact buffer, not a window on the envelope.
    expect(key.byteOffset).toBe(0);
    expect(key.buffer.byteLength).toBe(3);
  });

  it('decodes a byte field of VIEW_BYTES or more as a window on the payload, a shorter one as a copy', () => {
    const big = new Uint8Array(VIEW_BYTES).map((_, i) => i * 31);
    const small = new Uint8Array(VIEW_BYTES - 1).map((_, i) => i * 7);
    const envelope = encodeEnvelope({ big, small });
    const decoded = decodeEnvelope(envelope) as { big: Uint8Array; small: Uint8Array };
    expect(decoded).toEqual({ big, small });
    expect(decoded.big.buffer).toBe(envelope);
    expect(decoded.small.buffer).not.toBe(envelope);
    expect(decoded.small.byteOffset).toBe(0);
  });

  it('keeps empty values and a top-level byte field', () => {
    for (const value of [{}, [], 0, '', null, false, bytes(), bytes(9, 8, 7)])
      expect(decodeEnvelope(encodeEnvelope(value))).toEqual(value);
  });

  it('carries many byte fields in one buffer laid out as header, JSON, bytes', () => {
    const shares = Array.from({ length: 500 }, (_, i) => ({
      to: `c${i}`,
      sealed: Uint8Array.from({ length: i % 7 }, (_, j) => (i + j) & 0xff),
    }));
    const envelope = encodeEnvelope({ shares });
    expect(envelope).toBeInstanceOf(ArrayBuffer);
    const jsonLength = new DataView(envelope).getUint32(0, true);
    const total = shares.reduce((sum, s) => sum + s.sealed.length, 0);
    expect(envelope.byteLength).toBe(4 + jsonLength + total);
    expect(JSON.parse(new TextDecoder().decode(new Uint8Array(envelope, 4, jsonLength))).shares[1]).toEqual({
      to: 'c1',
      sealed: { $b: [0, 1] },
    });
    expect(decodeEnvelope(envelope)).toEqual({ shares });
  });

  it('takes ArrayBuffer leaves and decodes ArrayBuffer, Uint8Array and a Node Buffer window at an odd offset alike', () => {
    const value = { a: new Uint32Array([1, 2]).buffer, b: Buffer.from([5, 6, 7]).subarray(1) };
    const expected = { a: new Uint8Array(new Uint32Array([1, 2]).buffer), b: bytes(6, 7) };
    const envelope = encodeEnvelope(value);
    const pooled = Buffer.alloc(envelope.byteLength + 3);
    Buffer.from(envelope).copy(pooled, 1);
    const window = pooled.subarray(1, 1 + envelope.byteLength);
    expect(window.byteOffset % 4).not.toBe(0);
    for (const payload of [envelope, new Uint8Array(envelope), window])
      expect(decodeEnvelope(payload)).toEqual(expected);
  });

  it('drops undefined object properties as JSON does', () => {
    expect(decodeEnvelope(encodeEnvelope({ a: 1, b: undefined }))).toEqual({ a: 1 });
  });
});

describe('encoding refuses what JSON would silently change', () => {
  it.each([
    ['a non-finite number', { a: [1, Number.NaN] }, 'envelope: a[1] is NaN; only finite numbers travel'],
    ['an undefined array item', { a: [undefined] }, 'envelope: a[0] is undefined'],
    ['an array hole', { a: [1, , 2] }, 'envelope: a[1] is undefined'],
    [
      'another typed array',
      { w: new Float32Array(2) },
      'envelope: w is a Float32Array; only plain objects, arrays and Uint8Array/ArrayBuffer travel',
    ],
    ['a Map', { m: new Map() }, 'envelope: m is a Map'],
    ['a bigint', { n: 1n }, 'envelope: n is a bigint, which JSON cannot carry'],
    ['a function', { f: () => 1 }, 'envelope: f is a function'],
    ['the placeholder key', { x: { $b: [0, 0] } }, "envelope: x has the reserved key '$b'"],
    ['a constructor key', { constructor: 1 }, "envelope: the top level has the reserved key 'constructor'"],
  ])('%s', (_, value, message) => {
    expect(() => encodeEnvelope(value)).toThrow(EnvelopeError);
    expect(() => encodeEnvelope(value)).toThrow(message);
  });

  it('nesting deeper than the limit, and a JSON part over the limit', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 40; i++) deep = [deep];
    expect(() => encodeEnvelope(deep)).toThrow(
      'envelope: [0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0] nests deeper than 32 levels',
    );
    expect(() => encodeEnvelope({ s: 'x'.repeat(100) }, { maxJsonBytes: 50, maxDepth: 32 })).toThrow(
      'envelope: the JSON part has 108 bytes, more than 50',
    );
  });
});

describe('decoding refuses every malformed envelope with the problem named', () => {
  const good = encodeEnvelope({ k: bytes(1, 2), s: [bytes(3)] });

  it.each([
    [
      'JSON instead of binary',
      { type: 'secagg/unmask' },
      'envelope: the message must be one binary envelope (ArrayBuffer or Uint8Array), got object',
    ],
    ['an array of numbers', [1, 2, 3], 'got an array'],
    ['a string', 'abc', 'got string'],
    ['null', null, 'got null'],
    ['a Float32Array', new Float32Array(4), 'got object'],
    ['fewer bytes than the header', bytes(1, 0), 'envelope: 2 bytes is shorter than the 4-byte header'],
    [
      'a truncated JSON part',
      craft('{"a":1}', [], 20),
      'envelope: the header announces 20 bytes of JSON but only 7 follow (truncated)',
    ],
    [
      'a header beyond the JSON limit',
      craft('{}', [], 0xffffffff),
      'envelope: the header announces 4294967295 bytes of JSON, more than the limit of 1048576',
    ],
    ['a header shorter than the JSON', craft('{"a":1}', [], 5), 'envelope: the JSON part does not parse'],
    [
      'invalid UTF-8',
      craft('"\xff"').map((b, i) => (i === 5 ? 0xff : b)),
      'envelope: the JSON part is not valid UTF-8',
    ],
    [
      'a truncated byte region',
      new Uint8Array(good, 0, good.byteLength - 1),
      's[0] spans bytes 2..3, beyond the 2-byte region',
    ],
    [
      'trailing bytes',
      craft('{"a":{"$b":[0,1]}}', [1, 2]),
      'envelope: 1 byte(s) after the last field (trailing bytes)',
    ],
    ['bytes but no placeholder', craft('{}', [7]), '1 byte(s) after the last field'],
    [
      'a placeholder out of range',
      craft('{"a":{"$b":[0,9]}}', [1, 2]),
      'envelope: a spans bytes 0..9, beyond the 2-byte region',
    ],
    [
      'placeholders out of order',
      craft('[{"$b":[1,1]},{"$b":[0,1]}]', [1, 2]),
      'envelope: [0] starts at byte 1 of the byte region, expected 0',
    ],
    [
      'overlapping placeholders',
      craft('[{"$b":[0,2]},{"$b":[1,1]}]', [1, 2]),
      'envelope: [1] starts at byte 1 of the byte region, expected 2',
    ],
    [
      'a gap between placeholders',
      craft('[{"$b":[0,1]},{"$b":[2,1]}]', [1, 2, 3]),
      'starts at byte 2 of the byte region, expected 1',
    ],
    [
      'a placeholder with an extra key',
      craft('{"a":{"$b":[0,1],"x":1}}', [1]),
      'envelope: a is a malformed byte placeholder',
    ],
    ['a placeholder with a negative length', craft('{"a":{"$b":[0,-1]}}'), 'a is a malformed byte placeholder'],
    ['a placeholder with a fractional offset', craft('{"a":{"$b":[0.5,1]}}', [1]), 'a is a malformed byte placeholder'],
    ['a placeholder that is not a pair', craft('{"a":{"$b":"0,1"}}', [1]), 'a is a malformed byte placeholder'],
    [
      'a __proto__ key',
      craft('{"a":{"__proto__":{"polluted":true}}}'),
      "envelope: a has the forbidden key '__proto__'",
    ],
    [
      'a constructor key',
      craft('{"constructor":{"prototype":{}}}'),
      "envelope: the top level has the forbidden key 'constructor'",
    ],
    ['a prototype key', craft('[{"prototype":1}]'), "envelope: [0] has the forbidden key 'prototype'"],
    [
      'nesting deeper than the limit',
      craft('['.repeat(33) + ']'.repeat(33)),
      'envelope: the JSON part nests deeper than 32 levels',
    ],
    [
      'a megabyte of nesting',
      craft('['.repeat(500_000) + ']'.repeat(500_000)),
      'envelope: the JSON part nests deeper than 32 levels',
    ],
    [
      'a placeholder beyond the nesting limit',
      craft('['.repeat(31) + '{"$b":[0,1]}' + ']'.repeat(31), [1]),
      'envelope: the JSON part nests deeper than 32 levels',
    ],
  ])('%s', (_, payload, message) => {
    expect(() => decodeEnvelope(payload)).toThrow(EnvelopeError);
    expect(() => decodeEnvelope(payload)).toThrow(message);
  });

  it('accepts nesting right at the limit (brackets inside strings do not count), and the good envelope the cases above damage', () => {
    expect(decodeEnvelope(craft('['.repeat(32) + ']'.repeat(32)))).toHaveLength(1);
    expect(decodeEnvelope(craft('{"a":"[[[\\"[[{{","b":[' + '['.repeat(30) + ']'.repeat(30) + ']}'))).toMatchObject({
      a: '[[[\"[[{{',
    });
    let deepest: unknown = bytes(1);
    for (let i = 0; i < 30; i++) deepest = [deepest];
    expect(decodeEnvelope(encodeEnvelope(deepest))).toEqual(deepest);
    expect(() => encodeEnvelope([deepest])).toThrow('nests deeper than 32 levels');
    expect(decodeEnvelope(good)).toEqual({ k: bytes(1, 2), s: [bytes(3)] });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
