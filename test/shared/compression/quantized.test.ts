import { describe, expect, it } from 'vitest';
import { decodeQuantized, encodeQuantized, type QuantBits } from '../../../shared/compression/quantized.js';
import { WeightPayloadError } from '../../../shared/protocol/weights-codec.js';
import { seededRng } from '../../../shared/random.js';

const LEVELS = { 8: 127, 4: 7 } as const;

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

describe.each([8, 4] as QuantBits[])('int%i quantization', (bits) => {
  const L = LEVELS[bits];
  const sizes = [5, 3, 4];
  const delta = Float32Array.from([0.5, -1, 0.25, 0, 0.999, 100, -50, 0, 0, 0, 0, 0]);

  it('has one float32 scale per tensor and one level per parameter', () => {
    const bytes = encodeQuantized(delta, sizes, bits, seededRng(1)).byteLength;
    expect(bytes).toBe(4 * 3 + (bits === 8 ? 12 : 6));
  });

  it('round-trips each value to one of its two neighbouring levels, and the extremes exactly', () => {
    const out = decodeQuantized(new Uint8Array(encodeQuantized(delta, sizes, bits, seededRng(2))), sizes, bits);
    const scales = [1 / L, 100 / L, 0];
    let at = 0;
    sizes.forEach((size, t) => {
      for (let i = at; i < at + size; i++) {
        const s = Math.fround(scales[t]);
        if (s === 0) expect(out[i]).toBe(0);
        else expect(Math.abs(out[i] - delta[i])).toBeLessThanOrEqual(s * (1 + 1e-6));
      }
      at += size;
    });
    expect(out[1]).toBeCloseTo(-1, 6);
    expect(out[5]).toBeCloseTo(100, 4);
  });

  it('decodes from a Node Buffer at an odd offset (a socket.io attachment)', () => {
    const encoded = new Uint8Array(encodeQuantized(delta, sizes, bits, seededRng(3)));
    const padded = Buffer.alloc(encoded.byteLength + 1);
    padded.set(encoded, 1);
    expect(decodeQuantized(padded.subarray(1), sizes, bits)).toEqual(decodeQuantized(encoded, sizes, bits));
  });

  it('is unbiased: the mean of many decodings is within 5 standard errors of the value', () => {
    // One tensor whose maximum fixes the scale; the other entries fall between levels.
    const m = 20_000;
    const values = Float32Array.from([1, 0.3, -0.77, 0.0123]);
    const sums = new Float64Array(values.length);
    const rng = seededRng(4);
    for (let r = 0; r < m; r++) {
      const out = decodeQuantized(
        new Uint8Array(encodeQuantized(values, [values.length], bits, rng)),
        [values.length],
        bits,
      );
      for (let i = 0; i < values.length; i++) sums[i] += out[i];
    }
    const scale = Math.fround(1 / L);
    for (let i = 1; i < values.length; i++) {
      const frac = values[i] / scale - Math.floor(values[i] / scale);
      const stdErr = scale * Math.sqrt((frac * (1 - frac)) / m);
      expect(Math.abs(sums[i] / m - values[i])).toBeLessThan(5 * stdErr + 1e-7);
    }
  });

  it('refuses a payload of the wrong length', () => {
    const encoded = new Uint8Array(encodeQuantized(delta, sizes, bits, seededRng(5)));
    expectProblem(() => decodeQuantized(encoded.subarray(1), sizes, bits), 'wrong-length', /has \d+ bytes, got/);
    expectProblem(
      () => decodeQuantized(new Uint8Array(encoded.byteLength + 1), sizes, bits),
      'wrong-length',
      /has \d+ bytes, got/,
    );
  });

  it.each([
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['negative', -0.5],
    ['so large that scale x levels overflows float32', 3e38],
  ])('refuses a %s scale', (_what, scale) => {
    const encoded = new Uint8Array(encodeQuantized(delta, sizes, bits, seededRng(6)));
    new DataView(encoded.buffer).setFloat32(4, scale, true);
    expectProblem(() => decodeQuantized(encoded, sizes, bits), 'bad-encoding', /tensor 1 has scale/);
  });

  it(`refuses the level -${L + 1}, which the symmetric range never uses`, () => {
    const encoded = new Uint8Array(encodeQuantized(delta, sizes, bits, seededRng(7)));
    const header = 4 * sizes.length;
    if (bits === 8) encoded[header + 2] = 0x80;
    else encoded[header + 1] = (encoded[header + 1] & 0xf0) | 0x08;
    expectProblem(
      () => decodeQuantized(encoded, sizes, bits),
      'bad-encoding',
      new RegExp(`parameter 2 has level -${L + 1}`),
    );
  });

  it('refuses to encode a non-finite value', () => {
    expect(() => encodeQuantized(Float32Array.from([1, Number.NaN]), [2], bits, seededRng(8))).toThrow(
      /non-finite value \(NaN\) at index 1/,
    );
  });
});

describe('int4 packing', () => {
  it('refuses a non-zero padding nibble after an odd number of parameters', () => {
    const encoded = new Uint8Array(encodeQuantized(Float32Array.from([1, -1, 0.5]), [3], 4, seededRng(9)));
    expect(encoded.byteLength).toBe(4 + 2);
    encoded[5] |= 0x10;
    expectProblem(() => decodeQuantized(encoded, [3], 4), 'bad-encoding', /padding nibble/);
  });
});
