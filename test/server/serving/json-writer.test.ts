import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { writeFloat32, writeOutputsJson } from '../../../server/serving/json-writer.js';
import { float32ToJson } from '../../../server/serving/tensor-json.js';

type NestedNumbers = number | NestedNumbers[];

/** The reference: n outputs of `shape` as nested JS arrays, numbers as float32ToJson prints them. */
function unflattenBatch(flat: Float32Array, n: number, shape: readonly number[]): NestedNumbers[] {
  const size = (dims: readonly number[]) => dims.reduce((a, b) => a * b, 1);
  const nest = (offset: number, depth: number): NestedNumbers =>
    depth === shape.length
      ? float32ToJson(flat[offset])
      : Array.from({ length: shape[depth] }, (_, i) => nest(offset + i * size(shape.slice(depth + 1)), depth + 1));
  return Array.from({ length: n }, (_, i) => nest(i * size(shape), 0));
}

function text(v: number): string {
  const out = Buffer.alloc(64);
  return out.toString('latin1', 0, writeFloat32(out, 0, v));
}

describe('writeFloat32', () => {
  it('writes every float32 as the shortest decimal that reads back to it, like float32ToJson', () => {
    fc.assert(
      fc.property(fc.float({ noNaN: true, noDefaultInfinity: true }), (v) => {
        const written = text(v);
        expect(Math.fround(JSON.parse(written) as number)).toBe(v === 0 ? 0 : v);
        expect(JSON.parse(written)).toBe(v === 0 ? 0 : float32ToJson(v));
      }),
      { numRuns: 50_000 },
    );
  });

  it.each([
    [0, '0'],
    [-0, '0'],
    [1, '1'],
    [-2.5, '-2.5'],
    [Math.fround(0.1), '0.1'],
    [Math.fround(1e-7), '1e-7'],
    [Math.fround(1.5e-6), '0.0000015'],
    [Math.fround(123456.789), '123456.79'],
    [Math.fround(3e21), '3e+21'],
    [Math.fround(1e-30), '1e-30'],
    [3.4028234663852886e38, '3.4028235e+38'],
    [1.401298464324817e-45, '1e-45'],
    [NaN, 'null'],
    [Infinity, 'null'],
  ])('writes %s as %s', (v, expected) => {
    expect(text(v)).toBe(expected);
  });
});

describe('writeOutputsJson', () => {
  it.each([
    [[10], 3],
    [[], 2],
    [[2, 3], 2],
    [[2, 1, 3], 1],
  ])('nests outputs of shape %j for %i instances as unflattenBatch does', (shape, n) => {
    const per = shape.reduce((a, b) => a * b, 1);
    const y = Float32Array.from({ length: n * per }, (_, i) => Math.fround((i - 3) / 7));
    const written = JSON.parse(writeOutputsJson('predictions', y, n, shape, false).toString('utf8'));
    expect(written).toEqual({ predictions: unflattenBatch(y, n, shape) });
    const one = JSON.parse(writeOutputsJson('prediction', y.subarray(0, per), 1, shape, true).toString('utf8'));
    expect(one).toEqual({ prediction: unflattenBatch(y.subarray(0, per), 1, shape)[0] });
  });

  it('refuses outputs that do not match the shape', () => {
    expect(() => writeOutputsJson('outputs', new Float32Array(9), 1, [10], false)).toThrow(
      /output has 9 values, expected 1 x 10/,
    );
    expect(() => writeOutputsJson('prediction', new Float32Array(20), 2, [10], true)).toThrow(
      /single-instance answer needs 1 output, got 2/,
    );
  });
});
