import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  addWordBytes,
  addWords,
  BLOCK_WORDS,
  defaultWordAdder,
  jsWordAdder,
  simdWordAdder,
  type WordAdder,
} from '../../../shared/secagg/word-adder.js';

// Each test builds its adders itself, so that a mutant in the kernel's construction is live while it runs.
const simd = (): WordAdder => {
  const adder = simdWordAdder();
  if (!adder) throw new Error('no WebAssembly SIMD');
  return adder;
};

afterEach(() => {
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
});

describe('word adder', () => {
  it('has WebAssembly SIMD under Node 20, and it is the default', () => {
    expect(simdWordAdder()).toBeDefined();
    const chosen = defaultWordAdder();
    expect(defaultWordAdder()).toBe(chosen);
    // Only the SIMD adder has a block limit (its WebAssembly memory).
    expect(() => chosen.begin(new Int32Array(BLOCK_WORDS + 1))).toThrow(/exceeds/);
  });

  it('falls back (no SIMD adder) where WebAssembly is missing or rejects the kernel', () => {
    vi.spyOn(WebAssembly, 'validate').mockReturnValue(false);
    expect(simdWordAdder()).toBeUndefined();
    vi.stubGlobal('WebAssembly', undefined);
    expect(simdWordAdder()).toBeUndefined();
  });

  it('SIMD and JS agree on sums and differences mod 2^32, for any length', () => {
    for (const n of [1, 3, 4, 7, BLOCK_WORDS - 1, BLOCK_WORDS, 3 * BLOCK_WORDS + 5]) {
      const start = Int32Array.from({ length: n }, (_, i) => Math.imul(i, 2654435761));
      const words = Int32Array.from({ length: n }, (_, i) => (i % 2 ? 0x7fffffff : -0x80000000) ^ i);
      const viaSimd = start.slice();
      const viaJs = start.slice();
      const viaDefault = start.slice();
      for (const sign of [1, 1, -1] as const) {
        addWords(viaSimd, words, sign, simd());
        addWords(viaJs, words, sign, jsWordAdder());
        addWords(viaDefault, words, sign);
      }
      const expected = start.map((v, i) => (v + words[i]) | 0);
      expect(viaSimd).toEqual(expected);
      expect(viaJs).toEqual(expected);
      expect(viaDefault).toEqual(expected);
    }
  });

  it('JS adder: adds and subtracts into the block given to begin(), and lets go of it at end()', () => {
    const js = jsWordAdder();
    const block = Int32Array.of(1, 2, 0x7fffffff);
    js.begin(block);
    js.add(Int32Array.of(10, 20, 1), 1);
    js.add(Int32Array.of(1, 1, 1), -1);
    js.end();
    expect(Array.from(block)).toEqual([10, 21, 0x7fffffff]);
    js.add(Int32Array.of(5, 5, 5), 1);
    expect(Array.from(block)).toEqual([10, 21, 0x7fffffff]);
  });

  it('refuses mismatched lengths', () => {
    expect(() => addWords(new Int32Array(4), new Int32Array(3), 1)).toThrow('adding 3 words to 4');
    const adder = simd();
    expect(() => adder.begin(new Int32Array(BLOCK_WORDS + 1))).toThrow(
      `block of ${BLOCK_WORDS + 1} words exceeds ${BLOCK_WORDS}`,
    );
    adder.begin(new Int32Array(BLOCK_WORDS));
    expect(() => adder.add(new Int32Array(5), 1)).toThrow(`adding 5 words to a block of ${BLOCK_WORDS}`);
  });
});

describe('addWordBytes', () => {
  it('adds little-endian words from bytes at any offset, as addWords does from their aligned copy', () => {
    const n = 2 * BLOCK_WORDS + 7;
    const words = Int32Array.from({ length: n }, (_, i) => (i * 2654435761) | 0);
    for (const offset of [0, 1, 2, 3]) {
      const holder = new Uint8Array(offset + 4 * n);
      holder.set(new Uint8Array(words.buffer), offset);
      const bytes = holder.subarray(offset, offset + 4 * n);
      for (const sign of [1, -1] as const) {
        for (const adder of [simd(), jsWordAdder()]) {
          const start = Int32Array.from({ length: n }, (_, i) => i - 5);
          const expected = start.slice();
          addWords(expected, words, sign, adder);
          const got = start.slice();
          addWordBytes(got, bytes, sign, adder);
          expect(got).toEqual(expected);
        }
      }
    }
  });

  it('refuses bytes that are not exactly the target words', () => {
    expect(() => addWordBytes(new Int32Array(4), new Uint8Array(15), 1)).toThrow('adding 15 bytes to 4 words');
  });
});
