import type { Rng } from '../random.js';
import { WeightPayloadError } from '../protocol/weights-codec.js';

/**
 * Per-tensor symmetric quantization with unbiased stochastic rounding.
 *
 * Layout (little-endian): [one float32 scale per tensor][one level per parameter], a level being
 * an int8 (int8 codec) or a 4-bit two's-complement nibble, two per byte, the even parameter in the
 * low nibble (int4 codec; an odd count leaves a zero high nibble). A parameter decodes to
 * level x scale of its tensor. Levels lie in [-L, L] (L = 127 or 7), so -128 and -8 are refused.
 *
 * Rounding: x / scale lies between two levels lo and lo + 1 and goes up with probability
 * x / scale - lo, so its expected decoded value is exactly x (up to float32 rounding of the scale).
 */

export type QuantBits = 8 | 4;

const levelsOf = (bits: QuantBits) => (bits === 8 ? 127 : 7);

function headerBytes(sizes: readonly number[]): number {
  return 4 * sizes.length;
}

function levelBytes(bits: QuantBits, n: number): number {
  return bits === 8 ? n : Math.ceil(n / 2);
}

/** Encodes `delta` (finite, sum(sizes) values) into a fresh buffer. */
export function encodeQuantized(delta: Float32Array, sizes: readonly number[], bits: QuantBits, rng: Rng): ArrayBuffer {
  const L = levelsOf(bits);
  const header = headerBytes(sizes);
  const out = new ArrayBuffer(header + levelBytes(bits, delta.length));
  const view = new DataView(out);
  const levels = new Uint8Array(out, header);
  let at = 0;
  sizes.forEach((size, t) => {
    let maxAbs = 0;
    for (let i = at; i < at + size; i++) {
      const a = Math.abs(delta[i]);
      if (!Number.isFinite(a)) throw new Error(`cannot quantize a non-finite value (${delta[i]}) at index ${i}`);
      if (a > maxAbs) maxAbs = a;
    }
    const scale = Math.fround(maxAbs / L);
    view.setFloat32(4 * t, scale, true);
    for (let i = at; i < at + size; i++) {
      let level = 0;
      if (scale > 0) {
        const v = delta[i] / scale;
        const lo = Math.floor(v);
        // Clamped: the float32 scale can round just below maxAbs / L.
        level = Math.max(-L, Math.min(L, rng() < v - lo ? lo + 1 : lo));
      }
      if (bits === 8) levels[i] = level & 0xff;
      else levels[i >> 1] |= (level & 0x0f) << ((i & 1) * 4);
    }
    at += size;
  });
  return out;
}

/**
 * Decodes a quantized update of sum(sizes) parameters into a fresh Float32Array, in one pass over
 * the bytes and without other allocations. Throws a WeightPayloadError naming the problem.
 */
export function decodeQuantized(bytes: Uint8Array, sizes: readonly number[], bits: QuantBits): Float32Array {
  const L = levelsOf(bits);
  const n = sizes.reduce((a, b) => a + b, 0);
  const header = headerBytes(sizes);
  const expected = header + levelBytes(bits, n);
  if (bytes.byteLength !== expected) {
    throw new WeightPayloadError(
      'wrong-length',
      `an int${bits} update of ${n} parameters in ${sizes.length} tensors has ${expected} bytes, got ${bytes.byteLength}`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, header);
  const out = new Float32Array(n);
  let at = 0;
  for (let t = 0; t < sizes.length; t++) {
    const scale = view.getFloat32(4 * t, true);
    // The largest decodable value must be a finite float32 too.
    if (!(scale >= 0) || !Number.isFinite(Math.fround(scale * L))) {
      throw new WeightPayloadError(
        'bad-encoding',
        `tensor ${t} has scale ${scale}; scales must be finite, non-negative, and at most ${L} times below float32's largest value`,
      );
    }
    const end = at + sizes[t];
    for (let i = at; i < end; i++) {
      let level: number;
      if (bits === 8) {
        level = (bytes[header + i] << 24) >> 24;
      } else {
        level = ((bytes[header + (i >> 1)] >> ((i & 1) * 4)) << 28) >> 28;
      }
      if (level < -L)
        throw new WeightPayloadError('bad-encoding', `parameter ${i} has level ${level}, outside [-${L}, ${L}]`);
      out[i] = level * scale;
    }
    at = end;
  }
  if (bits === 4 && n % 2 === 1 && bytes[expected - 1] >> 4 !== 0) {
    throw new WeightPayloadError('bad-encoding', 'the padding nibble after the last parameter is not zero');
  }
  return out;
}
