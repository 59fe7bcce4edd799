import { describe, expect, it } from 'vitest';
import {
  aggregateErrorBound,
  clientWeight,
  decodeSum,
  encodeUpdate,
  fixedPointScale,
  type EncodingParams,
} from '../../../shared/secagg/encoding.js';

function sumWords(vectors: Uint32Array[]): Uint32Array {
  const out = new Uint32Array(vectors[0].length);
  for (const v of vectors) for (let i = 0; i < out.length; i++) out[i] += v[i];
  return out;
}

describe('fixed-point encoding in Z_2^32', () => {
  const params: EncodingParams = { clip: 2, maxWeight: 500, maxClients: 10 };

  it('round-trips one full-weight client within 1/s, clipping to [-c, c]', () => {
    const delta = Float32Array.from([0, 0.5, -1.25, 1.9999, 2, -2, 7, -1e9, 1e-9]);
    const { mean, totalWeight } = decodeSum(encodeUpdate(delta, 800, params), params);
    expect(totalWeight).toBe(500);
    const bound = aggregateErrorBound(params, 1, 500);
    expect(bound).toBeCloseTo(1 / fixedPointScale(params), 20);
    delta.forEach((x, i) =>
      expect(Math.abs(mean[i] - Math.max(-2, Math.min(2, x)))).toBeLessThanOrEqual(bound + 2 ** -24 * 2),
    );
  });

  it('never wraps: maxClients clients at +c or -c with full weight decode to exactly +-c', () => {
    for (const c of [2, -2]) {
      const words = Array.from({ length: params.maxClients }, () =>
        encodeUpdate(Float32Array.of(c, c * 1e6), params.maxWeight, params),
      );
      const { mean, totalWeight } = decodeSum(sumWords(words), params);
      expect(totalWeight).toBe(params.maxClients * params.maxWeight);
      expect(mean[0]).toBeCloseTo(c, 6);
      expect(mean[1]).toBeCloseTo(c, 6);
    }
  });

  it('rounds stochastically to the two neighbouring integers, without bias', () => {
    const one: EncodingParams = { clip: 1, maxWeight: 1, maxClients: 1 };
    const scale = fixedPointScale(one);
    const x = 0.3 / scale + 1234 / scale; // 1234.3 units
    const m = 40000;
    const words = new Int32Array(encodeUpdate(new Float32Array(m).fill(x), 1, one).buffer, 0, m);
    const target = Math.fround(x) * scale;
    let sum = 0;
    let elsewhere = 0;
    for (const w of words) {
      if (w !== Math.floor(target) && w !== Math.ceil(target)) elsewhere++;
      sum += w;
    }
    expect(elsewhere).toBe(0);
    // Bernoulli(frac) rounding: the mean is within 5 standard errors of the exact value.
    const frac = target - Math.floor(target);
    expect(Math.abs(sum / m - target)).toBeLessThan(5 * Math.sqrt((frac * (1 - frac)) / m));
  });

  it('weights by capped example counts: the decoded sum is the weighted mean', () => {
    const a = Float32Array.of(1, -1, 0.25);
    const b = Float32Array.of(-0.5, 0.5, 1.5);
    const { mean, totalWeight } = decodeSum(
      sumWords([encodeUpdate(a, 100, params), encodeUpdate(b, 5000, params)]),
      params,
    );
    expect(totalWeight).toBe(600);
    const bound = aggregateErrorBound(params, 2, 600);
    for (let i = 0; i < 3; i++)
      expect(Math.abs(mean[i] - (100 * a[i] + 500 * b[i]) / 600)).toBeLessThanOrEqual(bound + 2 ** -23);
    expect(clientWeight(5000, params)).toBe(500);
  });

  it('refuses what it cannot encode faithfully', () => {
    expect(() => encodeUpdate(Float32Array.of(0, NaN), 1, params)).toThrow(/index 1 is not finite/);
    expect(() => encodeUpdate(Float32Array.of(0), -1, params)).toThrow(/numExamples/);
    expect(() => encodeUpdate(Float32Array.of(0), 1.5, params)).toThrow(/numExamples/);
    expect(() => fixedPointScale({ clip: 1, maxWeight: 2 ** 30, maxClients: 8 })).toThrow(/weight slot/);
    expect(() => fixedPointScale({ clip: 0, maxWeight: 1, maxClients: 8 })).toThrow(/clip/);
    expect(() => decodeSum(new Uint32Array(3), params)).toThrow(/total weight 0/);
  });

  it('names the parameter that is out of range, at the exact limits', () => {
    const fits = (p: EncodingParams) => () => fixedPointScale(p);
    expect(fits({ clip: Infinity, maxWeight: 1, maxClients: 1 })).toThrow(
      'clip must be a positive finite number, got Infinity',
    );
    expect(fits({ clip: -1, maxWeight: 1, maxClients: 1 })).toThrow('clip must be a positive finite number, got -1');
    for (const maxWeight of [0, 1.5])
      expect(fits({ clip: 1, maxWeight, maxClients: 1 })).toThrow(
        `maxWeight must be a positive integer, got ${maxWeight}`,
      );
    for (const maxClients of [0, 2.5])
      expect(fits({ clip: 1, maxWeight: 1, maxClients })).toThrow(
        `maxClients must be a positive integer, got ${maxClients}`,
      );
    // The weight slot holds up to 2^32 - 1 = 3 * 1431655765 exactly.
    expect(fits({ clip: 1, maxWeight: 1431655765, maxClients: 3 })).not.toThrow();
    expect(fits({ clip: 1, maxWeight: 1431655766, maxClients: 3 })).toThrow(
      'maxClients * maxWeight = 4294967298 does not fit the 32-bit weight slot; lower maxWeight',
    );
    // floor((2^31 - 1) / N) must leave at least 2 units per client.
    expect(fixedPointScale({ clip: 1, maxWeight: 1, maxClients: 2 ** 30 - 1 })).toBe(1);
    expect(fits({ clip: 1, maxWeight: 1, maxClients: 2 ** 30 })).toThrow(
      `${2 ** 30} clients leave no headroom in 32-bit words`,
    );
    expect(fixedPointScale({ clip: 0.5, maxWeight: 1, maxClients: 1 })).toBe((2 ** 31 - 2) / 0.5);
  });

  it('gives weight 0 to a client with no examples, and refuses a bad count by name', () => {
    expect(clientWeight(0, params)).toBe(0);
    expect(clientWeight(499, params)).toBe(499);
    expect(() => clientWeight(-1, params)).toThrow('numExamples must be a non-negative integer, got -1');
  });

  it('decodes a sum that is a view into a larger buffer, and a sum with only the weight slot', () => {
    const words = encodeUpdate(Float32Array.of(1, -0.5), 500, params);
    const padded = new Uint32Array(words.length + 2);
    padded.set(words, 1);
    const direct = decodeSum(words, params);
    const viewed = decodeSum(padded.subarray(1, 1 + words.length), params);
    expect(viewed).toEqual(direct);
    expect(decodeSum(Uint32Array.of(7), params)).toEqual({ mean: new Float32Array(0), totalWeight: 7 });
    expect(() => decodeSum(new Uint32Array(0), params)).toThrow('an encoded sum needs at least the weight slot');
  });
});
