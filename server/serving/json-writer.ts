import { float32ToJson } from './tensor-json.js';

/**
 * Predict responses written straight into one buffer: no nested arrays, and numbers as digits
 * computed in integer arithmetic rather than strings. Each float32 gets the fewest significant
 * digits (up to 9) that read back as the same float32; the digits come from one multiplication by
 * an exact power of ten, and every candidate is checked by reading it back, so the text always
 * round-trips. Values whose scale needs a power of ten beyond 1e22 (below about 1e-13 or above
 * 1e22) are rare in outputs and go through float32ToJson.
 */

const POW10 = Float64Array.from({ length: 23 }, (_, i) => Number(`1e${i}`));
/** Longest text writeFloat32 produces: "-1.23456789e-38" and the like, with room to spare. */
const MAX_NUMBER_CHARS = 24;
const MINUS = 0x2d;
const DOT = 0x2e;
const ZERO = 0x30;

/** D x 10^k as a double, correctly rounded (D < 2^53, |k| <= 22). */
function scaled(d: number, k: number): number {
  return k >= 0 ? d * POW10[k] : d / POW10[-k];
}

function writeDigits(out: Buffer, pos: number, d: number, count: number): number {
  for (let i = count - 1; i >= 0; i--) {
    out[pos + i] = ZERO + (d % 10);
    d = Math.floor(d / 10);
  }
  return pos + count;
}

function digitCount(d: number): number {
  let n = 1;
  while (d >= POW10[n] && n < 22) n++;
  return n;
}

/** Writes the value of `v` (a float32) as a JSON number at `pos`; returns the position after it. */
export function writeFloat32(out: Buffer, pos: number, v: number): number {
  if (!Number.isFinite(v)) return pos + out.write('null', pos, 'latin1');
  if (v === 0) {
    out[pos] = ZERO;
    return pos + 1;
  }
  const x = Math.abs(v);
  const e10 = Math.floor(Math.log10(x));
  for (let p = 1; p <= 9; p++) {
    // x is about d x 10^k with d of p digits; k falls as p grows.
    const k = e10 - p + 1;
    if (k < -22 || k > 22) break;
    let d = Math.round(scaled(x, -k));
    if (Math.fround(scaled(d, k)) !== x) continue;
    let exp = k;
    while (d % 10 === 0) {
      d /= 10;
      exp++;
    }
    if (v < 0) out[pos++] = MINUS;
    return writeDecimal(out, pos, d, exp);
  }
  return pos + out.write(String(float32ToJson(v)), pos, 'latin1');
}

/** d / 10^m and d % 10^m for an integer d < 2^53, exactly. */
function splitDigits(d: number, m: number): [number, number] {
  const low = d % POW10[m];
  return [(d - low) / POW10[m], low];
}

/** d x 10^exp (d < 1e9 without trailing zeros) as JavaScript would print it: plain up to 1e21, else d.ddde+X. */
function writeDecimal(out: Buffer, pos: number, d: number, exp: number): number {
  const n = digitCount(d);
  const pointAt = n + exp; // digits before the decimal point
  if (exp >= 0 && pointAt <= 21) {
    pos = writeDigits(out, pos, d, n);
    out.fill(ZERO, pos, pos + exp);
    return pos + exp;
  }
  if (exp < 0 && pointAt > 0) {
    const [int, frac] = splitDigits(d, -exp);
    pos = writeDigits(out, pos, int, pointAt);
    out[pos++] = DOT;
    return writeDigits(out, pos, frac, -exp);
  }
  if (pointAt > -6 && pointAt <= 0) {
    out[pos++] = ZERO;
    out[pos++] = DOT;
    out.fill(ZERO, pos, pos - pointAt);
    return writeDigits(out, pos - pointAt, d, n);
  }
  const [lead, rest] = splitDigits(d, n - 1);
  out[pos++] = ZERO + lead;
  if (n > 1) {
    out[pos++] = DOT;
    pos = writeDigits(out, pos, rest, n - 1);
  }
  return pos + out.write(`e${pointAt > 0 ? '+' : '-'}${Math.abs(pointAt - 1)}`, pos, 'latin1');
}

/** How many arrays (innermost first) end just before flat index j (0 < j) of one instance of `shape`. */
function arraysEndingBefore(j: number, shape: readonly number[]): number {
  let count = 0;
  let stride = 1;
  for (let dim = shape.length - 1; dim > 0; dim--) {
    stride *= shape[dim];
    if (j % stride !== 0) break;
    count++;
  }
  return count;
}

/**
 * `{"<key>": [...]}` for n outputs of `shape` (row-major in y): one JSON value per instance,
 * nested as the shape says; with `single` (n = 1), the one instance without the outer list.
 */
export function writeOutputsJson(
  key: string,
  y: Float32Array,
  n: number,
  shape: readonly number[],
  single: boolean,
): Buffer {
  const per = shape.reduce((a, b) => a * b, 1);
  if (per === 0 || y.length !== n * per) throw new Error(`output has ${y.length} values, expected ${n} x ${per} (> 0)`);
  if (single && n !== 1) throw new Error(`a single-instance answer needs 1 output, got ${n}`);
  const dims = shape.length;
  const out = Buffer.allocUnsafe(key.length + 8 + y.length * (MAX_NUMBER_CHARS + 1 + 2 * dims) + n * (2 * dims + 1));
  let pos = out.write(`{"${key}":`, 0, 'latin1');
  if (!single) out[pos++] = 0x5b;
  for (let i = 0; i < n; i++) {
    if (i > 0) out[pos++] = 0x2c;
    out.fill(0x5b, pos, pos + dims);
    pos += dims;
    for (let j = 0; j < per; j++) {
      if (j > 0) {
        const ends = arraysEndingBefore(j, shape);
        out.fill(0x5d, pos, pos + ends);
        pos += ends;
        out[pos++] = 0x2c;
        out.fill(0x5b, pos, pos + ends);
        pos += ends;
      }
      pos = writeFloat32(out, pos, y[i * per + j]);
    }
    out.fill(0x5d, pos, pos + dims);
    pos += dims;
  }
  if (!single) out[pos++] = 0x5d;
  out[pos++] = 0x7d;
  return out.subarray(0, pos);
}
