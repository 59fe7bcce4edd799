import { describe, expect, it } from 'vitest';
import { splitHeldOut } from '../../client/held-out-split.js';
import type { Dataset } from '../../shared/data/dataset.js';

const ds: Dataset = {
  x: Float32Array.from({ length: 20 * 2 }, (_, i) => i),
  y: Int32Array.from({ length: 20 }, (_, i) => i % 3),
  n: 20,
  inputShape: [2],
  numClasses: 3,
};

describe('splitHeldOut', () => {
  it('holds back a seeded random fraction, every example in exactly one part', () => {
    const { train, heldOut } = splitHeldOut(ds, 0.25, 5);
    expect([train.n, heldOut.n]).toEqual([15, 5]);
    const firstFeature = (d: Dataset) => Array.from({ length: d.n }, (_, i) => d.x[i * 2] / 2);
    const all = [...firstFeature(train), ...firstFeature(heldOut)].sort((a, b) => a - b);
    expect(all).toEqual(Array.from({ length: 20 }, (_, i) => i));
    heldOut.y.forEach((y, i) => expect(y).toBe(firstFeature(heldOut)[i] % 3));
    expect(splitHeldOut(ds, 0.25, 5).heldOut.x).toEqual(heldOut.x);
    expect(splitHeldOut(ds, 0.25, 6).heldOut.x).not.toEqual(heldOut.x);
  });

  it('refuses a fraction outside [0, 1) or one that leaves nothing to train on', () => {
    expect(() => splitHeldOut(ds, 1)).toThrow('held-out fraction must be in [0, 1), got 1');
    expect(() => splitHeldOut({ ...ds, n: 1, x: ds.x.slice(0, 2), y: ds.y.slice(0, 1) }, 0.9)).toThrow(
      /leaves none to train on/,
    );
  });
});
