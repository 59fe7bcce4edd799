/**
 * Fixed-point encoding of weighted updates into Z_2^32 (Uint32Array words, which wrap mod 2^32
 * on + and -). A client with update x (clipped to [-c, c]) and example count n sends
 *   words[i] = SR(s * p * x[i])   for i < m,      words[m] = w
 * where w = min(n, W) is its integer weight, p = w / W in [0, 1], s the scale and SR unbiased
 * stochastic rounding. The coordinator recovers the weighted FedAvg mean
 *   sum_u w_u x_u / sum_u w_u  =  (sum_u words_u[i] / s) * W / sum_u words_u[m].
 *
 * No wrap-around: |SR(s p x)| <= s c + 1 = floor((2^31 - 1) / N), so the signed sum of N clients
 * stays within int32; the weight slot sums to at most N W <= 2^32 - 1 (checked).
 *
 * Error bound (deterministic): each rounding error is in (-1, 1), so with S survivors
 *   |mean_i - exact_i| < S * W / (s * sum_u w_u)   (= 1/s when every client has weight W),
 * with s = (floor((2^31 - 1) / N) - 1) / c, i.e. about N c / 2^31. The error is zero-mean with
 * standard deviation <= sqrt(S) * W / (2 s sum_u w_u). The float32 result adds its own rounding
 * (relative 2^-24). Clipping is by design: the result is the mean of the clipped updates.
 *
 * Smaller words (wordBits 16): the same scheme with 2^15 - 1 in place of 2^31 - 1, so that
 * s = (floor((2^15 - 1) / N) - 1) / c and the signed sum of the value words fits 16 bits. Masking
 * still runs in Z_2^32, but reducing mod 2^16 is a ring homomorphism: a client sends only the low
 * 16 bits of each masked value word (its mask's low half is uniform in Z_2^16, a one-time pad
 * there), the coordinator sums and unmasks as usual and reads the low 16 bits, sign-extended. The
 * weight word keeps its 32 bits. The bound above holds with this s: coarser by 2^16 per client.
 */
import { randomBytes } from './bytes.js';

export interface EncodingParams {
  /** Each update value is clipped to [-clip, clip]. */
  clip: number;
  /** Example counts above this are capped (W above). */
  maxWeight: number;
  /** The most clients whose vectors can be summed (N above): the round's selected clients. */
  maxClients: number;
  /** Ring of the value words: Z_2^32 (default) or Z_2^16, sent as 2 bytes per value. */
  wordBits?: 16 | 32;
}

function wordBits(p: EncodingParams): 16 | 32 {
  return p.wordBits ?? 32;
}

/** Fixed-point units each client may use per value so that N of them never wrap the signed ring. */
function headroom(p: EncodingParams): number {
  return Math.floor((2 ** (wordBits(p) - 1) - 1) / p.maxClients);
}

const UINT32_MAX = 2 ** 32 - 1;

export function checkEncodingParams(p: EncodingParams): void {
  if (!(Number.isFinite(p.clip) && p.clip > 0)) throw new Error(`clip must be a positive finite number, got ${p.clip}`);
  if (!Number.isSafeInteger(p.maxWeight) || p.maxWeight < 1)
    throw new Error(`maxWeight must be a positive integer, got ${p.maxWeight}`);
  if (!Number.isSafeInteger(p.maxClients) || p.maxClients < 1)
    throw new Error(`maxClients must be a positive integer, got ${p.maxClients}`);
  if (p.maxClients * p.maxWeight > UINT32_MAX) {
    throw new Error(
      `maxClients * maxWeight = ${p.maxClients * p.maxWeight} does not fit the 32-bit weight slot; lower maxWeight`,
    );
  }
  if (p.wordBits !== undefined && p.wordBits !== 16 && p.wordBits !== 32)
    throw new Error(`wordBits must be 16 or 32, got ${String(p.wordBits)}`);
  if (headroom(p) < 2) throw new Error(`${p.maxClients} clients leave no headroom in ${wordBits(p)}-bit words`);
}

/** s: fixed-point units per unit of (weighted) update value. */
export function fixedPointScale(p: EncodingParams): number {
  checkEncodingParams(p);
  return (headroom(p) - 1) / p.clip;
}

/** The integer weight carried in the last slot. */
export function clientWeight(numExamples: number, p: EncodingParams): number {
  if (!Number.isSafeInteger(numExamples) || numExamples < 0)
    throw new Error(`numExamples must be a non-negative integer, got ${numExamples}`);
  return Math.min(numExamples, p.maxWeight);
}

const UNIFORM_BATCH = 16384;

/** Encodes one client's update into m + 1 words, stochastic rounding drawn from the CSPRNG. */
export function encodeUpdate(delta: Float32Array, numExamples: number, p: EncodingParams): Uint32Array {
  const scale = fixedPointScale(p);
  const weight = clientWeight(numExamples, p);
  const factor = (scale * weight) / p.maxWeight;
  const m = delta.length;
  const out = new Uint32Array(m + 1);
  const signed = new Int32Array(out.buffer);
  const c = p.clip;
  for (let start = 0; start < m; start += UNIFORM_BATCH) {
    const end = Math.min(m, start + UNIFORM_BATCH);
    const uniforms = new Uint32Array(randomBytes((end - start) * 4).buffer);
    for (let i = start; i < end; i++) {
      const x = delta[i];
      if (!Number.isFinite(x)) throw new Error(`update value at index ${i} is not finite (${x})`);
      const v = (x > c ? c : x < -c ? -c : x) * factor;
      const lower = Math.floor(v);
      // Rounds up with probability equal to the fractional part: E[result] = v.
      signed[i] = lower + (uniforms[i - start] < (v - lower) * 4294967296 ? 1 : 0);
    }
  }
  out[m] = weight;
  return out;
}

export interface DecodedAggregate {
  /** sum_u w_u x_u / sum_u w_u over the clients in the sum. */
  mean: Float32Array;
  /** sum_u w_u (capped example counts). */
  totalWeight: number;
}

/** Inverse of encodeUpdate for the sum of several clients' words. */
export function decodeSum(sum: Uint32Array, p: EncodingParams): DecodedAggregate {
  const scale = fixedPointScale(p);
  const m = sum.length - 1;
  if (m < 0) throw new Error('an encoded sum needs at least the weight slot');
  const totalWeight = sum[m];
  if (totalWeight === 0) throw new Error('the clients in the sum have total weight 0');
  const signed = new Int32Array(sum.buffer, sum.byteOffset, m);
  const factor = p.maxWeight / (scale * totalWeight);
  const mean = new Float32Array(m);
  // 16-bit words: the sum is exact mod 2^16 only; its low half, sign-extended, is the signed sum.
  if (wordBits(p) === 16) for (let i = 0; i < m; i++) mean[i] = ((signed[i] << 16) >> 16) * factor;
  else for (let i = 0; i < m; i++) mean[i] = signed[i] * factor;
  return { mean, totalWeight };
}

/** The deterministic bound above on |decoded mean - exact weighted mean| per coordinate. */
export function aggregateErrorBound(p: EncodingParams, clients: number, totalWeight: number): number {
  return (clients * p.maxWeight) / (fixedPointScale(p) * totalWeight);
}

/** Bytes of a masked input on the wire: the value words at the ring's width, then the 32-bit weight word. */
export function maskedInputBytes(values: number, p: EncodingParams): number {
  return (values * wordBits(p)) / 8 + 4;
}

/**
 * The wire form of masked words (m value words + the weight word): unchanged in Z_2^32; in Z_2^16
 * the low 16 bits of each value word (little-endian), then the weight word.
 */
export function packMaskedWords(words: Uint32Array, p: EncodingParams): Uint8Array {
  if (wordBits(p) === 32) return new Uint8Array(words.buffer, words.byteOffset, words.byteLength);
  const m = words.length - 1;
  const out = new Uint8Array(maskedInputBytes(m, p));
  const view = new DataView(out.buffer);
  for (let i = 0; i < m; i++) view.setUint16(2 * i, words[i] & 0xffff, true);
  view.setUint32(2 * m, words[m], true);
  return out;
}

/**
 * Inverse of packMaskedWords for `values` value words: little-endian uint32 words (zero-extended
 * from 16 bits), or an Error naming the length problem.
 */
export function widenMaskedWords(bytes: Uint8Array, values: number, p: EncodingParams): Uint32Array {
  const expected = maskedInputBytes(values, p);
  if (bytes.byteLength !== expected)
    throw new Error(
      `has ${bytes.byteLength} bytes, expected ${expected} (${values} ${wordBits(p)}-bit words and a 32-bit weight)`,
    );
  const out = new Uint32Array(values + 1);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const width = wordBits(p) / 8;
  for (let i = 0; i < values; i++) out[i] = width === 2 ? view.getUint16(2 * i, true) : view.getUint32(4 * i, true);
  out[values] = view.getUint32(width * values, true);
  return out;
}

/** Fewest fixed-point levels per client (each side of zero) for which 16-bit words are chosen. */
export const MIN_SMALL_WORD_LEVELS = 15;

/** The ring for `clients` clients with quantized (int8) updates: 16-bit words while each keeps >= MIN_SMALL_WORD_LEVELS levels, else 32. */
export function wordBitsFor(clients: number): 16 | 32 {
  return Math.floor((2 ** 15 - 1) / clients) - 1 >= MIN_SMALL_WORD_LEVELS ? 16 : 32;
}
