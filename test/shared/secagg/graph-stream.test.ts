import { afterEach, describe, expect, it, vi } from 'vitest';
import { neighbourGraph } from '../../../shared/secagg/graph.js';

// The SHA-512 blocks the graph's seeded stream reads, chosen by the test (one queued block per call).
const blocks: number[][] = [];
vi.mock('tweetnacl', async (importOriginal) => {
  const real = (await importOriginal<{ default: typeof import('tweetnacl') }>()).default;
  return {
    default: {
      ...real,
      hash: (input: Uint8Array) => {
        const words = blocks.shift();
        if (!words) return real.hash(input);
        const out = new Uint32Array(16);
        out.set(words);
        return new Uint8Array(out.buffer);
      },
    },
  };
});
afterEach(() => void (blocks.length = 0));

const ring = (g: ReadonlyMap<string, readonly string[]>) => [...g.keys()];

describe('the graph seed stream', () => {
  it('rejects a word at or above the largest multiple of the bound, so no position is favoured', () => {
    // n = 3: positions 2 and 1 draw below 3 and below 2. For 3 the limit is 3 * floor(2^32 / 3) =
    // 2^32 - 1, so 0xffffffff is rejected and 4 is used: j = 1, ring a c b. For 2 the limit is 2^32,
    // so 0x80000001 is used: 1 keeps it.
    blocks.push([0xffffffff, 4, 0x80000001]);
    expect(ring(neighbourGraph(['a', 'b', 'c'], 2, new Uint8Array(32)))).toEqual(['a', 'c', 'b']);
  });

  it('reads all 16 words of a block before hashing the next', () => {
    // n = 18 draws 17 words: 16 zeros from the first block (each swaps position i with 0), then the
    // first word of the second block (1 % 2 = 1: no swap).
    blocks.push(new Array(16).fill(0), [1]);
    const ids = Array.from({ length: 18 }, (_, i) => String.fromCharCode(97 + i));
    const expected = [...ids];
    for (let i = 17; i > 1; i--) [expected[i], expected[0]] = [expected[0], expected[i]];
    expect(ring(neighbourGraph(ids, 4, new Uint8Array(32)))).toEqual(expected);
  });
});
