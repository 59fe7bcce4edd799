import { describe, expect, it } from 'vitest';
import { clipToL2Norm, l2Norm } from '../../../shared/privacy/clipping.js';
import { seededRng } from '../../../shared/random.js';

function randomVector(n: number, scale: number, seed: number): Float32Array {
  const rng = seededRng(seed);
  return Float32Array.from({ length: n }, () => (rng() - 0.5) * scale);
}

describe('L2 clipping', () => {
  it('bounds the norm by C and keeps the direction', () => {
    for (let seed = 1; seed <= 50; seed++) {
      const v = randomVector(1_000 + seed, 10 * seed, seed);
      const clipNorm = 0.1 + seed / 7;
      const { clipped, norm, withinClipNorm } = clipToL2Norm(v, clipNorm);
      expect(l2Norm(clipped)).toBeLessThanOrEqual(clipNorm);
      expect(withinClipNorm).toBe(norm <= clipNorm);
      if (!withinClipNorm) {
        expect(l2Norm(clipped)).toBeCloseTo(clipNorm, 5);
        for (let i = 0; i < 20; i++) expect(clipped[i]).toBeCloseTo((v[i] * clipNorm) / norm, 6);
      }
    }
  });

  it('leaves an update within the bound unchanged, as a copy', () => {
    const v = Float32Array.from([3, 4]);
    const r = clipToL2Norm(v, 5);
    expect(r).toMatchObject({ norm: 5, withinClipNorm: true });
    expect(r.clipped).toEqual(v);
    expect(r.clipped).not.toBe(v);
  });

  it('scales by C / ||delta|| and does not mutate the input', () => {
    const v = Float32Array.from([30, 40]);
    const r = clipToL2Norm(v, 1);
    expect(r.norm).toBe(50);
    expect(r.withinClipNorm).toBe(false);
    expect(r.clipped[0]).toBeCloseTo(0.6, 6);
    expect(r.clipped[1]).toBeCloseTo(0.8, 6);
    expect(Array.from(v)).toEqual([30, 40]);
    // Landing exactly on C needs no further shrinking.
    expect(clipToL2Norm(Float32Array.from([0, -8, 0]), 4).clipped).toEqual(Float32Array.from([0, -4, 0]));
  });

  it('shrinks a few ulps more when scaling by C / ||delta|| rounds to just above C', () => {
    // Found by search: scaled by exactly C / ||delta||, this update's float32 norm exceeds 0.1.
    const v = Float32Array.from([-4.777589797973633, 3.049268960952759]);
    const once = v.map((x) => x * (0.1 / l2Norm(v)));
    expect(l2Norm(once)).toBeGreaterThan(0.1);
    const { clipped, withinClipNorm } = clipToL2Norm(v, 0.1);
    expect(withinClipNorm).toBe(false);
    expect(l2Norm(clipped)).toBeLessThanOrEqual(0.1);
    // One step of 1 - 2^-22 was enough, and the direction is kept.
    const shrunk = (0.1 / l2Norm(v)) * (1 - 2 ** -22);
    expect(clipped).toEqual(v.map((x) => x * shrunk));
  });

  it('rejects non-finite updates and bad clip norms', () => {
    expect(() => clipToL2Norm(Float32Array.from([1, Number.NaN]), 1)).toThrow(/non-finite value \(NaN\) at index 1/);
    expect(() => clipToL2Norm(Float32Array.from([1]), 0)).toThrow(/clip norm/);
  });
});
