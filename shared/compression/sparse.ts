import { WeightPayloadError } from '../protocol/weights-codec.js';

/**
 * Top-k sparsification: the k parameters largest in magnitude, as
 * [presence bitmap: ceil(n / 8) bytes, parameter i at bit i % 8 of byte i / 8][k float32 LE values
 * in index order]. Bits past the last parameter are zero. At 10% this is 1/32 + 1/10 of float32's
 * bytes; an index list would cost 4 bytes per value on top of the value itself.
 */

function bitmapBytes(n: number): number {
  return Math.ceil(n / 8);
}

/**
 * Encodes the k entries of `values` largest in magnitude (ties: lowest index first) and returns
 * the payload with what was left out (`values` with the sent entries zeroed): the residual that
 * error feedback adds to the next update.
 */
export function encodeTopk(values: Float32Array, k: number): { payload: ArrayBuffer; residual: Float32Array } {
  const n = values.length;
  if (!Number.isInteger(k) || k < 1 || k > n) throw new Error(`top-k needs 1 <= k <= ${n}, got ${k}`);
  const magnitudes = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const a = Math.abs(values[i]);
    if (!Number.isFinite(a)) throw new Error(`cannot sparsify a non-finite value (${values[i]}) at index ${i}`);
    magnitudes[i] = a;
  }
  // Typed-array sort is numeric and native: the k-th largest magnitude is the threshold.
  const threshold = magnitudes.sort()[n - k];
  const payload = new ArrayBuffer(bitmapBytes(n) + 4 * k);
  const bitmap = new Uint8Array(payload, 0, bitmapBytes(n));
  const residual = values.slice();
  let above = 0;
  for (let i = 0; i < n; i++) if (Math.abs(values[i]) > threshold) above++;
  let ties = k - above;
  for (let i = 0; i < n; i++) {
    const a = Math.abs(values[i]);
    if (a > threshold || (a === threshold && ties-- > 0)) {
      bitmap[i >> 3] |= 1 << (i & 7);
      residual[i] = 0;
    }
  }
  const view = new DataView(payload, bitmapBytes(n));
  let j = 0;
  for (let i = 0; i < n; i++) if (bitmap[i >> 3] & (1 << (i & 7))) view.setFloat32(4 * j++, values[i], true);
  return { payload, residual };
}

/**
 * Decodes a top-k update of `n` parameters carrying exactly `k` values into a fresh Float32Array,
 * in one pass over the bitmap. Throws a WeightPayloadError naming the problem.
 */
export function decodeTopk(bytes: Uint8Array, n: number, k: number): Float32Array {
  const mapBytes = bitmapBytes(n);
  const expected = mapBytes + 4 * k;
  if (bytes.byteLength !== expected) {
    throw new WeightPayloadError(
      'wrong-length',
      `a top-k update of ${k} of ${n} parameters has ${expected} bytes, got ${bytes.byteLength}`,
    );
  }
  if (n % 8 !== 0 && bytes[mapBytes - 1] >> (n % 8) !== 0) {
    throw new WeightPayloadError('bad-encoding', `the bitmap marks parameters past the last one (${n - 1})`);
  }
  const values = new DataView(bytes.buffer, bytes.byteOffset + mapBytes, 4 * k);
  const out = new Float32Array(n);
  let j = 0;
  for (let i = 0; i < n; i++) {
    if ((bytes[i >> 3] & (1 << (i & 7))) === 0) continue;
    if (j === k)
      throw new WeightPayloadError('bad-encoding', `the bitmap marks more than the ${k} parameters the round sends`);
    const v = values.getFloat32(4 * j++, true);
    if (!Number.isFinite(v))
      throw new WeightPayloadError('not-finite', `parameter ${i} is ${v}; only finite values are accepted`);
    out[i] = v;
  }
  if (j !== k) throw new WeightPayloadError('bad-encoding', `the bitmap marks ${j} parameters, the round sends ${k}`);
  return out;
}
