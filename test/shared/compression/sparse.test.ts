import { describe, expect, it } from 'vitest';
import { decodeTopk, encodeTopk } from '../../../shared/compression/sparse.js';
import { WeightPayloadError } from '../../../shared/protocol/weights-codec.js';

function expectProblem(fn: () => unknown, code: string, text: RegExp): void {
  try {
    fn();
    expect.unreachable();
  } catch (e) {
    expect(e).toBeInstanceOf(WeightPayloadError);
    expect((e as WeightPayloadError).code).toBe(code);
    expect((e as Error).message).toMatch(text);
  }
}

describe('top-k sparsification', () => {
  const values = Float32Array.from([0.1, -5, 0.2, 3, 0, -0.3, 4, 0.05, 1, -2, 0.01]);

  it('sends exactly the k largest magnitudes and keeps the rest as the residual', () => {
    const { payload, residual } = encodeTopk(values, 4);
    expect(payload.byteLength).toBe(2 + 4 * 4);
    const out = decodeTopk(new Uint8Array(payload), values.length, 4);
    expect([...out]).toEqual([0, -5, 0, 3, 0, 0, 4, 0, 0, -2, 0].map(Math.fround));
    for (let i = 0; i < values.length; i++) expect(out[i] + residual[i]).toBe(values[i]);
  });

  it('breaks ties by index, still sending exactly k values', () => {
    const flat = Float32Array.from([1, -1, 1, 1, 0.5]);
    const out = decodeTopk(new Uint8Array(encodeTopk(flat, 2).payload), 5, 2);
    expect([...out]).toEqual([1, -1, 0, 0, 0]);
  });

  it('decodes from a Node Buffer at an odd offset', () => {
    const { payload } = encodeTopk(values, 3);
    const padded = Buffer.alloc(payload.byteLength + 1);
    padded.set(new Uint8Array(payload), 1);
    expect(decodeTopk(padded.subarray(1), values.length, 3)).toEqual(
      decodeTopk(new Uint8Array(payload), values.length, 3),
    );
  });

  it('refuses a payload of the wrong length for k', () => {
    const { payload } = encodeTopk(values, 3);
    expectProblem(() => decodeTopk(new Uint8Array(payload), values.length, 4), 'wrong-length', /has 18 bytes, got 14/);
  });

  it('refuses a bitmap marking more values than k', () => {
    const bytes = new Uint8Array(encodeTopk(values, 3).payload);
    bytes[0] |= 0x01;
    expectProblem(() => decodeTopk(bytes, values.length, 3), 'bad-encoding', /more than the 3 parameters/);
  });

  it('refuses a bitmap marking fewer values than k', () => {
    const bytes = new Uint8Array(encodeTopk(values, 3).payload);
    bytes[0] = 0;
    bytes[1] = 0;
    expectProblem(() => decodeTopk(bytes, values.length, 3), 'bad-encoding', /marks 0 parameters, the round sends 3/);
  });

  it('refuses a bitmap marking parameters past the last one', () => {
    const bytes = new Uint8Array(encodeTopk(values, 3).payload);
    bytes[1] |= 0x80;
    expectProblem(() => decodeTopk(bytes, values.length, 3), 'bad-encoding', /past the last one \(10\)/);
  });

  it('refuses a non-finite value', () => {
    const bytes = new Uint8Array(encodeTopk(values, 3).payload);
    new DataView(bytes.buffer).setFloat32(2 + 4, Number.NaN, true);
    expectProblem(() => decodeTopk(bytes, values.length, 3), 'not-finite', /parameter 3 is NaN/);
  });

  it('refuses to encode a non-finite value or an impossible k', () => {
    expect(() => encodeTopk(Float32Array.from([1, Number.POSITIVE_INFINITY]), 1)).toThrow(
      /non-finite value \(Infinity\) at index 1/,
    );
    expect(() => encodeTopk(values, 0)).toThrow(/1 <= k <= 11/);
    expect(() => encodeTopk(values, 12)).toThrow(/1 <= k <= 11/);
  });
});
