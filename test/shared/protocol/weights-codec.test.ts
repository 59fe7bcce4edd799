import { describe, expect, it } from 'vitest';
import { decodeWeights, encodeWeights, WeightPayloadError } from '../../../shared/protocol/weights-codec.js';

describe('weights codec', () => {
  it('round-trips through an ArrayBuffer and through a Node Buffer at an odd offset', () => {
    const w = Float32Array.from([0, -1.5, 3.25, 1e-30, -7e20]);
    const buf = encodeWeights(w);
    expect(buf.byteLength).toBe(20);
    expect(decodeWeights(buf, 5)).toEqual(w);
    const padded = Buffer.alloc(21);
    Buffer.from(buf).copy(padded, 1);
    expect(decodeWeights(padded.subarray(1), 5)).toEqual(w);
  });

  it('encodes a view of a larger buffer as exactly its own bytes', () => {
    const big = Float32Array.from([9, 1, 2, 9]);
    expect(new Float32Array(encodeWeights(big.subarray(1, 3)))).toEqual(Float32Array.from([1, 2]));
  });

  it.each([
    ['not-binary', [1, 2, 3], 3],
    ['not-binary', 'AAAA', 1],
    ['wrong-length', new ArrayBuffer(8), 3],
    ['not-finite', encodeWeights(Float32Array.from([1, Number.NaN])), 2],
    ['not-finite', encodeWeights(Float32Array.from([Number.NEGATIVE_INFINITY])), 1],
  ])('refuses a payload with problem %s', (code, payload, length) => {
    try {
      decodeWeights(payload, length);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(WeightPayloadError);
      expect((e as WeightPayloadError).code).toBe(code);
    }
  });
});
