import { describe, expect, it } from 'vitest';
import { flattenBatch, float32ToJson, InputError } from '../../../server/serving/tensor-json.js';

const shape = [2, 3, 1];
const flat = [1, 2, 3, 4, 5, 6];

describe('flattenBatch', () => {
  it('accepts flat, 2x3 and 2x3x1 nestings of the same instance', () => {
    const nested2 = [
      [1, 2, 3],
      [4, 5, 6],
    ];
    const nested3 = [
      [[1], [2], [3]],
      [[4], [5], [6]],
    ];
    expect(Array.from(flattenBatch([flat, nested2, nested3], shape, 'instances'))).toEqual([...flat, ...flat, ...flat]);
  });

  it('accepts any rectangular nesting with the right size, e.g. 3x2', () => {
    expect(
      Array.from(
        flattenBatch(
          [
            [
              [1, 2],
              [3, 4],
              [5, 6],
            ],
          ],
          shape,
          'instances',
        ),
      ),
    ).toEqual(flat);
  });

  it.each([
    [
      [1, 2, 3],
      /instances\[0\] has shape \[3\] \(3 values\); the model takes 6 numbers, e.g. shaped \[2, 3, 1\] or flat \[6\]/,
    ],
    [
      [
        [1, 2, 3],
        [4, 5],
      ],
      /instances\[0\]\[1\] has 2 elements, expected 3 like its siblings \(ragged nesting\)/,
    ],
    [
      [
        [1, 2, 3],
        [4, 'x', 6],
      ],
      /instances\[0\]\[1\]\[1\] must be a number, got string/,
    ],
    [[1, 2, 3, 4, 5, [6]], /instances\[0\]\[5\] must be a number, got an array/],
    [[1, 2, 3, 4, 5, null], /instances\[0\]\[5\] must be a number, got null/],
    [[1, 2, 3, 4, 5, 1e400], /instances\[0\]\[5\] is Infinity; inputs must be finite/],
    [{ x: 1 }, /instances\[0\] is an object; the model takes 6 numbers/],
    [7, /instances\[0\] is a number; the model takes 6 numbers/],
    [[], /instances\[0\] has shape \[0\] \(0 values\)/],
  ])('names what is wrong in %j', (instance, message) => {
    expect(() => flattenBatch([instance], shape, 'instances')).toThrow(InputError);
    expect(() => flattenBatch([instance], shape, 'instances')).toThrow(message);
  });

  it('reports the index of the bad instance in a batch', () => {
    expect(() => flattenBatch([flat, flat, [1]], shape, 'inputs')).toThrow(/^inputs\[2\] has shape \[1\]/);
  });
});

describe('float32ToJson', () => {
  it('prints the shortest decimal that reads back as the same float32', () => {
    for (const v of [0.1, 1 / 3, 0.9999999, 1e-30, 123456.789, 0, -2.5]) {
      const f = Math.fround(v);
      const printed = float32ToJson(f);
      expect(Math.fround(printed)).toBe(f);
      expect(String(printed).length).toBeLessThanOrEqual(String(f).length);
    }
    expect(float32ToJson(Math.fround(0.1))).toBe(0.1);
  });
});
