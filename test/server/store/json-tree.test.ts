import { describe, expect, it } from 'vitest';
import { decodeState, encodeState, metadataToJson, type CheckpointState } from '../../../server/store/json-tree.js';

describe('metadataToJson', () => {
  it('copies every kind of JSON value, including objects without a prototype', () => {
    const bare = Object.assign(Object.create(null) as Record<string, unknown>, { k: 1 });
    const metadata = { none: null, yes: true, no: false, name: 'round 3', n: -2.5, list: [0, 'a', null], bare };
    const copy = metadataToJson(metadata);
    expect(copy).toEqual(metadata);
    expect(copy).not.toBe(metadata);
  });

  it.each([
    ['null', null],
    ['an array', [1, 2]],
    ['a Date', new Date(0)],
  ])('refuses %s as the metadata itself', (_what, value) => {
    expect(() => metadataToJson(value as object)).toThrow('metadata must be a plain object');
  });

  it.each([
    ['undefined', { a: { b: undefined } }, 'metadata.a.b is undefined; only JSON values can be checkpointed'],
    ['a Map', { list: [1, new Map()] }, 'metadata.list[1] is Map; only JSON values can be checkpointed'],
    [
      'an object with no constructor',
      { a: Object.create(Object.create(null)) },
      'metadata.a is object; only JSON values can be checkpointed',
    ],
    ['NaN', { loss: NaN }, 'metadata.loss is NaN; checkpoint values must be finite'],
    ['a Float32Array', { w: [new Float32Array(1)] }, 'metadata.w[0] is a Float32Array; binary data belongs in state'],
  ])('refuses %s inside, naming its path', (_what, metadata, message) => {
    expect(() => metadataToJson(metadata)).toThrow(message);
  });
});

describe('encodeState / decodeState', () => {
  it('stores Float32Array leaves as aligned binary and puts them back', () => {
    const state: CheckpointState = {
      step: 3,
      m: [Float32Array.from([1, 2, 3]), { v: Float32Array.from([-4]) }],
      tag: 'adam',
      on: true,
      none: null,
    };
    const encoded = encodeState(state);
    expect(encoded.json).toEqual({ step: 3, m: [null, { v: null }], tag: 'adam', on: true, none: null });
    expect(encoded.arrays).toEqual([
      { path: ['m', 0], byteOffset: 0, length: 3 },
      { path: ['m', 1, 'v'], byteOffset: 12, length: 1 },
    ]);
    expect(Array.from(new Float32Array(encoded.data.buffer))).toEqual([1, 2, 3, -4]);
    expect(decodeState(encoded.json, encoded.arrays, encoded.data)).toEqual(state);
  });

  it('refuses a state that is not a plain object, and non-JSON values with the Float32Array hint', () => {
    expect(() => encodeState([] as unknown as CheckpointState)).toThrow('state must be a plain object');
    expect(() => encodeState(null as unknown as CheckpointState)).toThrow('state must be a plain object');
    expect(() => encodeState({ a: new Set() } as unknown as CheckpointState)).toThrow(
      'state.a is Set; only JSON values and Float32Array can be checkpointed',
    );
  });

  const data = new Uint8Array(8);
  it.each([
    [
      'an unaligned offset',
      { v: null },
      [{ path: ['v'], byteOffset: 2, length: 1 }],
      'state.v: bytes 2..6 do not fit state.bin (8 bytes)',
    ],
    [
      'bytes past the end',
      { v: null },
      [{ path: ['v'], byteOffset: 4, length: 2 }],
      'state.v: bytes 4..12 do not fit state.bin (8 bytes)',
    ],
    ['an empty path', {}, [{ path: [], byteOffset: 0, length: 1 }], 'state manifest has an entry with an empty path'],
    [
      'a path through a missing object',
      { a: null },
      [{ path: ['b', 'c', 'd'], byteOffset: 0, length: 1 }],
      'state.b.c.d: the state tree has no placeholder there',
    ],
    [
      'a path through a null',
      { a: null },
      [{ path: ['a', 'c'], byteOffset: 0, length: 1 }],
      'state.a.c: the state tree has no placeholder there',
    ],
    [
      'a path into a number',
      { a: 5 },
      [{ path: ['a', 'c'], byteOffset: 0, length: 1 }],
      'state.a.c: the state tree has no placeholder there',
    ],
    [
      'a non-null value at the place',
      { a: [1] },
      [{ path: ['a', 0], byteOffset: 0, length: 1 }],
      'state.a[0]: the state tree has no placeholder there',
    ],
    [
      'a missing key at the place',
      { a: {} },
      [{ path: ['a', 'x'], byteOffset: 0, length: 1 }],
      'state.a.x: the state tree has no placeholder there',
    ],
  ])('refuses a manifest with %s, naming the entry', (_what, json, arrays, message) => {
    expect(() => decodeState(json, arrays, data)).toThrow(message);
  });

  it('accepts an entry ending exactly at the end of the data', () => {
    const out = decodeState(
      { v: null },
      [{ path: ['v'], byteOffset: 4, length: 1 }],
      Uint8Array.from([0, 0, 0, 0, 0, 0, 0x80, 0x3f]),
    );
    expect(out.v).toEqual(Float32Array.from([1]));
  });
});
