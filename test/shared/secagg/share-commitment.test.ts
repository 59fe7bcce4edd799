import { describe, expect, it } from 'vitest';
import {
  commitmentDepth,
  commitShares,
  neighbourIndex,
  pairMatches,
  revealedMatches,
  revealProof,
  revealProofBytes,
  type DealtShares,
} from '../../../shared/secagg/share-commitment.js';

function dealt(count: number, salt = 0): DealtShares {
  const to = Array.from({ length: count }, (_, i) => `peer-${String(i).padStart(3, '0')}`);
  const share = (i: number, kind: number) =>
    Uint8Array.from({ length: 33 }, (_, b) => (i * 31 + b * 7 + kind * 101 + salt) & 0xff);
  return { to, selfMaskSeed: to.map((_, i) => share(i, 0)), maskingKey: to.map((_, i) => share(i, 1)) };
}

function flipped(bytes: Uint8Array, at: number): Uint8Array {
  const out = bytes.slice();
  out[at] ^= 1;
  return out;
}

describe('share commitment', () => {
  it('has one path length for every neighbour, from the degree', () => {
    expect([1, 2, 3, 4, 5, 8, 9, 42, 254].map(commitmentDepth)).toEqual([0, 1, 2, 2, 3, 3, 4, 6, 8]);
    expect(revealProofBytes(42)).toBe(32 * 7);
    expect(() => commitmentDepth(0)).toThrow(/at least one neighbour/);
  });

  for (const count of [1, 2, 3, 5, 8, 13, 42]) {
    it(`${count} neighbours: every pair and every revealed share checks out at its own place, and nowhere else`, () => {
      const d = dealt(count);
      const { root, paths } = commitShares(d);
      expect(paths.every((p) => p.length === 32 * commitmentDepth(count))).toBe(true);
      d.to.forEach((to, i) => {
        const seed = d.selfMaskSeed[i];
        const key = d.maskingKey[i];
        expect(pairMatches(root, count, i, to, seed, key, paths[i])).toBe(true);
        expect(
          revealedMatches(root, count, i, to, 'self-mask-seed', seed, revealProof(to, 'self-mask-seed', key, paths[i])),
        ).toBe(true);
        expect(
          revealedMatches(root, count, i, to, 'masking-key', key, revealProof(to, 'masking-key', seed, paths[i])),
        ).toBe(true);
        // Swapped kinds, another recipient's name, or another place in the tree.
        expect(pairMatches(root, count, i, to, key, seed, paths[i])).toBe(false);
        expect(
          revealedMatches(root, count, i, to, 'masking-key', seed, revealProof(to, 'masking-key', key, paths[i])),
        ).toBe(false);
        if (count > 1) {
          const other = (i + 1) % count;
          expect(pairMatches(root, count, other, to, seed, key, paths[i])).toBe(false);
          expect(pairMatches(root, count, i, d.to[other], seed, key, paths[i])).toBe(false);
        }
        expect(pairMatches(root, count, -1, to, seed, key, paths[i])).toBe(false);
        expect(pairMatches(root, count, count, to, seed, key, paths[i])).toBe(false);
      });
    });
  }

  it('refuses any altered byte of a share, of the path, of the proof or of the root', () => {
    const d = dealt(42);
    const { root, paths } = commitShares(d);
    const i = 17;
    const [to, seed, key, path] = [d.to[i], d.selfMaskSeed[i], d.maskingKey[i], paths[i]];
    for (let b = 0; b < seed.length; b++) {
      expect(pairMatches(root, 42, i, to, flipped(seed, b), key, path)).toBe(false);
      expect(pairMatches(root, 42, i, to, seed, flipped(key, b), path)).toBe(false);
      expect(
        revealedMatches(
          root,
          42,
          i,
          to,
          'self-mask-seed',
          flipped(seed, b),
          revealProof(to, 'self-mask-seed', key, path),
        ),
      ).toBe(false);
    }
    const proof = revealProof(to, 'masking-key', seed, path);
    for (let b = 0; b < proof.length; b++)
      expect(revealedMatches(root, 42, i, to, 'masking-key', key, flipped(proof, b))).toBe(false);
    for (let b = 0; b < path.length; b++) expect(pairMatches(root, 42, i, to, seed, key, flipped(path, b))).toBe(false);
    for (let b = 0; b < root.length; b++) expect(pairMatches(flipped(root, b), 42, i, to, seed, key, path)).toBe(false);
    // A path of the wrong length, even one that is a prefix of the right one.
    expect(pairMatches(root, 42, i, to, seed, key, path.subarray(0, 32 * 5))).toBe(false);
    expect(revealedMatches(root, 42, i, to, 'masking-key', key, proof.subarray(0, proof.length - 32))).toBe(false);
  });

  it('refuses places outside the tree even where the path bits would alias a real neighbour', () => {
    // With 8 neighbours the path has 3 levels: place 8 reads as place 0 and place -1 as place 7.
    const d = dealt(8);
    const { root, paths } = commitShares(d);
    for (const [place, real] of [
      [8, 0],
      [-1, 7],
      [16, 0],
    ] as const) {
      const [to, seed, key, path] = [d.to[real], d.selfMaskSeed[real], d.maskingKey[real], paths[real]];
      expect(pairMatches(root, 8, real, to, seed, key, path)).toBe(true);
      expect(pairMatches(root, 8, place, to, seed, key, path)).toBe(false);
      expect(
        revealedMatches(root, 8, real, to, 'self-mask-seed', seed, revealProof(to, 'self-mask-seed', key, path)),
      ).toBe(true);
      expect(
        revealedMatches(root, 8, place, to, 'self-mask-seed', seed, revealProof(to, 'self-mask-seed', key, path)),
      ).toBe(false);
      expect(revealedMatches(root, 8, place, to, 'masking-key', key, revealProof(to, 'masking-key', seed, path))).toBe(
        false,
      );
    }
  });

  it('binds each root to the very shares dealt: other shares give another root', () => {
    expect(Buffer.from(commitShares(dealt(9)).root).equals(Buffer.from(commitShares(dealt(9, 1)).root))).toBe(false);
    expect(Buffer.from(commitShares(dealt(9)).root).equals(Buffer.from(commitShares(dealt(9)).root))).toBe(true);
  });

  it('places a neighbour by its id among the dealer neighbours, sorted', () => {
    expect(neighbourIndex(['c', 'a', 'b'], 'c')).toBe(2);
    expect(neighbourIndex(['c', 'a', 'b'], 'a')).toBe(0);
    expect(neighbourIndex(['c', 'a', 'b'], 'z')).toBe(-1);
    expect(neighbourIndex([], 'a')).toBe(-1);
  });

  it('places every neighbour where sorting the list would, without sorting it', () => {
    const ids = Array.from({ length: 60 }, (_, i) => `client-${((i * 37) % 60).toString().padStart(3, '0')}`);
    const mixed = ['Z', 'a', 'é', 'aa', '10', '9', ...ids];
    for (const list of [ids, mixed, ids.slice(0, 1)]) {
      const sorted = [...list].sort();
      for (const to of list) expect(neighbourIndex(list, to)).toBe(sorted.indexOf(to));
      expect(neighbourIndex(list, 'not-a-neighbour')).toBe(-1);
    }
  });
});
