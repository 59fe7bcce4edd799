import { describe, expect, it } from 'vitest';
import { weightDelta } from '../../../shared/model/weights.js';

describe('weightDelta', () => {
  it('is local minus global, element by element, in a new array', () => {
    const local = new Float32Array([1.5, -2, 0.25, 3]);
    const global = new Float32Array([0.5, 1, 0.25, -1]);
    const delta = weightDelta(local, global);
    expect(Array.from(delta)).toEqual([1, -3, 0, 4]);
    expect(delta).not.toBe(local);
    expect(Array.from(local)).toEqual([1.5, -2, 0.25, 3]);
  });

  it('refuses vectors of different lengths, naming both', () => {
    expect(() => weightDelta(new Float32Array(3), new Float32Array(4))).toThrow(
      'local weights have 3 values, the global model 4',
    );
  });
});
