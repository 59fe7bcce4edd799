import { describe, expect, it } from 'vitest';
import { addWords, BLOCK_WORDS, jsWordAdder, simdWordAdder } from '../../../shared/secagg/word-adder.js';

describe('word adder', () => {
  const simd = simdWordAdder();

  it('has WebAssembly SIMD under Node 20', () => {
    expect(simd).toBeDefined();
  });

  it('SIMD and JS agree on sums and differences mod 2^32, for any length', () => {
    for (const n of [1, 3, 4, 7, BLOCK_WORDS - 1, BLOCK_WORDS, 3 * BLOCK_WORDS + 5]) {
      const start = Int32Array.from({ length: n }, (_, i) => Math.imul(i, 2654435761));
      const words = Int32Array.from({ length: n }, (_, i) => (i % 2 ? 0x7fffffff : -0x80000000) ^ i);
      const viaSimd = start.slice();
      const viaJs = start.slice();
      for (const sign of [1, 1, -1] as const) {
        addWords(viaSimd, words, sign, simd);
        addWords(viaJs, words, sign, jsWordAdder());
      }
      expect(viaSimd).toEqual(viaJs);
      const expected = start.map((v, i) => (v + words[i]) | 0);
      expect(viaSimd).toEqual(expected);
    }
  });

  it('refuses mismatched lengths', () => {
    expect(() => addWords(new Int32Array(4), new Int32Array(3), 1)).toThrow(/3 words to 4/);
  });
});
