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
 */
import { randomBytes } from './bytes.js';

export interface EncodingParams {
  /** Each update value is clipped to [-clip, clip]. */
  clip: number;
  /** Example counts above this are capped (W above). */
  maxWeight: number;
  /** The most clients whose vectors can be summed (N above): the round's selected clients. */
  maxClients: number;
}

const INT32_MAX = 2 ** 31 - 1;
const UINT32_MAX = 2 ** 32 - 1;

export function checkEncodingParams(p: EncodingParams): void {
  if (!(Number.isFinite(p.clip) && p.clip > 0)) throw new Error(`clip must be a positive finite number, got ${p.clip}`);
  if (!Number.isSafeInteger(p.maxWeight) || p.maxWeight < 1) throw new Error(`maxWeight must be a positive integer, got ${p.maxWeight}`);
  if (!Number.isSafeInteger(p.maxClients) || p.maxClients < 1) throw new Error(`maxClients must be a positive integer, got ${p.maxClients}`);
  if (p.maxClients * p.maxWeight > UINT32_MAX) {
    throw new Error(`maxClients * maxWeight = ${p.maxClients * p.maxWeight} does not fit the 32-bit weight slot; lower maxWeight`);
  }
  if (Math.floor(INT32_MAX / p.maxClients) < 2) throw new Error(`${p.maxClients} clients leave no headroom in 32 bits`);
}

/** s: fixed-point units per unit of (weighted) update value. */
export function fixedPointScale(p: EncodingParams): number {
  checkEncodingParams(p);
  return (Math.floor(INT32_MAX / p.maxClients) - 1) / p.clip;
}

/** The integer weight carried in the last slot. */
export function clientWeight(numExamples: number, p: EncodingParams): number {
  if (!Number.isSafeInteger(numExamples) || numExamples < 0) throw new Error(`numExamples must be a non-negative integer, got ${numExamples}`);
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
  for (let i = 0; i < m; i++) mean[i] = signed[i] * factor;
  return { mean, totalWeight };
}

/** The deterministic bound above on |decoded mean - exact weighted mean| per coordinate. */
export function aggregateErrorBound(p: EncodingParams, clients: number, totalWeight: number): number {
  return (clients * p.maxWeight) / (fixedPointScale(p) * totalWeight);
}
