import { describe, expect, it } from 'vitest';
import {
  aggregateErrorBound,
  decodeSum,
  encodeUpdate,
  fixedPointScale,
  maskedInputBytes,
  MIN_SMALL_WORD_LEVELS,
  packMaskedWords,
  widenMaskedWords,
  wordBitsFor,
  type EncodingParams,
} from '../../../shared/secagg/encoding.js';
import { seededRng } from '../../../shared/random.js';

/** What the coordinator does with 16-bit masked inputs: widen each, add mod 2^32, remove the masks mod 2^32. */
function sumAndUnmask(wire: Uint8Array[], masks: Uint32Array[], values: number, p: EncodingParams): Uint32Array {
  const sum = new Uint32Array(values + 1);
  for (const bytes of wire) {
    const words = widenMaskedWords(bytes, values, p);
    for (let i = 0; i <= values; i++) sum[i] += words[i];
  }
  for (const mask of masks) for (let i = 0; i <= values; i++) sum[i] -= mask[i];
  return sum;
}

/** Clients that mask with independent uniform uint32 words (a self mask each); only the low 16 bits of value words go out. */
function maskedRound(
  updates: Float32Array[],
  weights: number[],
  p: EncodingParams,
  seed: number,
): { mean: Float32Array; totalWeight: number } {
  const rng = seededRng(seed);
  const values = updates[0].length;
  const masks: Uint32Array[] = [];
  const wire = updates.map((u, c) => {
    const words = encodeUpdate(u, weights[c], p);
    const mask = Uint32Array.from({ length: values + 1 }, () => Math.floor(rng() * 2 ** 32));
    masks.push(mask);
    for (let i = 0; i <= values; i++) words[i] += mask[i];
    return packMaskedWords(words, p);
  });
  return decodeSum(sumAndUnmask(wire, masks, values, p), p);
}

describe('16-bit secure-aggregation words', () => {
  it('are chosen while each of n clients keeps enough levels, for every n up to 2,047', () => {
    expect(wordBitsFor(3)).toBe(16);
    expect(wordBitsFor(1000)).toBe(16);
    expect(wordBitsFor(2047)).toBe(16);
    expect(wordBitsFor(2048)).toBe(32);
    expect(Math.floor(32767 / 2047) - 1).toBeGreaterThanOrEqual(MIN_SMALL_WORD_LEVELS);
    expect(fixedPointScale({ clip: 1, maxWeight: 1, maxClients: 1000, wordBits: 16 })).toBe(31);
  });

  it('halve the masked input: 2 bytes per value plus the 4-byte weight word', () => {
    const p: EncodingParams = { clip: 1, maxWeight: 100, maxClients: 1000, wordBits: 16 };
    expect(maskedInputBytes(121_930, p)).toBe(2 * 121_930 + 4);
    expect(maskedInputBytes(121_930, p) / maskedInputBytes(121_930, { ...p, wordBits: 32 })).toBeCloseTo(0.5, 4);
  });

  it('sum exactly mod 2^16 under uniform 32-bit masks: the decoded mean is within the stated bound', () => {
    const p: EncodingParams = { clip: 0.5, maxWeight: 200, maxClients: 40, wordBits: 16 };
    const rng = seededRng(7);
    const updates = Array.from({ length: 40 }, () => Float32Array.from({ length: 300 }, () => (rng() - 0.5) * 1.4));
    const weights = updates.map((_, i) => 50 + 10 * i);
    const { mean, totalWeight } = maskedRound(updates, weights, p, 8);
    const capped = weights.map((w) => Math.min(w, 200));
    expect(totalWeight).toBe(capped.reduce((a, b) => a + b, 0));
    const bound = aggregateErrorBound(p, 40, totalWeight);
    for (let i = 0; i < 300; i++) {
      const exact = updates.reduce((s, u, c) => s + capped[c] * Math.max(-0.5, Math.min(0.5, u[i])), 0) / totalWeight;
      expect(Math.abs(mean[i] - exact)).toBeLessThanOrEqual(bound * (1 + 1e-6));
    }
  });

  it('never wrap: maxClients clients all at +clip or all at -clip decode to +-clip', () => {
    const p: EncodingParams = { clip: 2, maxWeight: 1, maxClients: 1000, wordBits: 16 };
    for (const c of [2, -2]) {
      const updates = Array.from({ length: 1000 }, () => Float32Array.of(c, c * 10));
      const { mean } = maskedRound(
        updates,
        updates.map(() => 1),
        p,
        9,
      );
      expect(mean[0]).toBeCloseTo(c, 6);
      expect(mean[1]).toBeCloseTo(c, 6);
    }
  });

  it('a masked input of the wrong length is refused, naming both lengths', () => {
    const p: EncodingParams = { clip: 1, maxWeight: 1, maxClients: 10, wordBits: 16 };
    const packed = packMaskedWords(new Uint32Array(11), p);
    expect(packed.byteLength).toBe(24);
    expect(() => widenMaskedWords(packed.subarray(1), 10, p)).toThrow(
      /has 23 bytes, expected 24 \(10 16-bit words and a 32-bit weight\)/,
    );
    expect(() => widenMaskedWords(new Uint8Array(44), 10, p)).toThrow(/has 44 bytes, expected 24/);
  });

  it('32-bit words travel as they are, whether wordBits is 32 or absent', () => {
    const words = Uint32Array.from([0x12345678, 0xfedcba98, 0x0000ffff, 7]);
    for (const p of [
      { clip: 1, maxWeight: 1, maxClients: 10, wordBits: 32 as const },
      { clip: 1, maxWeight: 1, maxClients: 10 },
    ]) {
      expect(fixedPointScale(p)).toBe(fixedPointScale({ clip: 1, maxWeight: 1, maxClients: 10 }));
      const packed = packMaskedWords(words, p);
      expect(packed).toEqual(new Uint8Array(words.buffer));
      expect(widenMaskedWords(packed, 3, p)).toEqual(words);
    }
  });

  it('refuses a ring other than 16 or 32 bits, and a client count leaving no headroom', () => {
    expect(() => fixedPointScale({ clip: 1, maxWeight: 1, maxClients: 10, wordBits: 8 as never })).toThrow(
      /wordBits must be 16 or 32/,
    );
    expect(() => fixedPointScale({ clip: 1, maxWeight: 1, maxClients: 20_000, wordBits: 16 })).toThrow(
      /no headroom in 16-bit words/,
    );
  });
});
