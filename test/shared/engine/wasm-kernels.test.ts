import * as tf from '@tensorflow/tfjs';
import type { NamedAttrMap } from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { registerWasmKernels } from '../../../shared/engine/wasm/register.js';
import {
  describeCase,
  randomConvCase,
  randomData,
  relativeL2,
  runKernelOn,
  seededRng,
  type ConvCase,
} from './kernel-cases.js';

const TOLERANCE = 1e-5;
const CASES = 40;

beforeAll(async () => {
  await registerWasmKernels();
  expect(await tf.setBackend('wasm')).toBe(true);
});

function size(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function convAttrs(c: ConvCase, extra: Record<string, unknown>): NamedAttrMap {
  return {
    strides: c.strides,
    dilations: c.dilations,
    pad: c.pad,
    dataFormat: 'NHWC',
    dimRoundingMode: undefined,
    ...extra,
  } as unknown as NamedAttrMap;
}

/** The filter with (d-1) zeros between taps: a dilated convolution is a plain one with this filter. */
function dilateFilter(
  values: Float32Array,
  shape: number[],
  [dh, dw]: [number, number],
): { values: Float32Array; shape: number[] } {
  const [kh, kw, ci, co] = shape;
  const ekh = (kh - 1) * dh + 1;
  const ekw = (kw - 1) * dw + 1;
  const out = new Float32Array(ekh * ekw * ci * co);
  const tap = ci * co;
  for (let y = 0; y < kh; y++) {
    for (let x = 0; x < kw; x++)
      out.set(values.subarray((y * kw + x) * tap, (y * kw + x + 1) * tap), (y * dh * ekw + x * dw) * tap);
  }
  return { values: out, shape: [ekh, ekw, ci, co] };
}

function undilateFilter(values: Float32Array, shape: number[], [dh, dw]: [number, number]): Float32Array {
  const [kh, kw, ci, co] = shape;
  const ekw = (kw - 1) * dw + 1;
  const tap = ci * co;
  const out = new Float32Array(kh * kw * tap);
  for (let y = 0; y < kh; y++) {
    for (let x = 0; x < kw; x++)
      out.set(values.subarray((y * dh * ekw + x * dw) * tap, (y * dh * ekw + x * dw + 1) * tap), (y * kw + x) * tap);
  }
  return out;
}

function withChannels(c: ConvCase, inC: number, outC: number): ConvCase {
  const [b, h, w] = c.xShape;
  const [kh, kw] = c.filterShape;
  const [, oh, ow] = c.outShape;
  return { ...c, xShape: [b, h, w, inC], filterShape: [kh, kw, inC, outC], outShape: [b, oh, ow, outC] };
}

function withDepthwiseChannels(c: ConvCase, channels: number): ConvCase {
  const [b, h, w] = c.xShape;
  const [kh, kw] = c.filterShape;
  const [, oh, ow] = c.outShape;
  return { ...c, xShape: [b, h, w, channels], filterShape: [kh, kw, channels, 1], outShape: [b, oh, ow, channels] };
}

function expectClose(actual: Float32Array, expected: Float32Array, what: string): void {
  const err = relativeL2(actual, expected);
  expect(err, what).toBeLessThanOrEqual(TOLERANCE);
}

describe('wasm Conv2DBackpropFilter / Conv2DBackpropInput match cpu', () => {
  it.each(Array.from({ length: CASES }, (_, i) => 1000 + i))('random case, seed %i', async (seed) => {
    // Odd seeds: one input channel and many output channels (first layers); seeds 2 mod 4: 16 or 32
    // output channels. Both take the direct filter-gradient heap kernel, the others im2col x dy.
    const base = randomConvCase(seed, { depthwise: false, maxDilation: 2 });
    const c =
      seed % 2 === 1
        ? withChannels(base, 1, 8 + (seed % 8))
        : seed % 4 === 2
          ? withChannels(base, 2 + (seed % 3), 16 * (1 + ((seed >> 2) % 2)))
          : base;
    const rng = seededRng(seed * 7919);
    const x = { values: randomData(size(c.xShape), rng), shape: c.xShape };
    const filter = { values: randomData(size(c.filterShape), rng), shape: c.filterShape };
    const dy = { values: randomData(size(c.outShape), rng), shape: c.outShape };
    // The cpu kernels ignore `dilations`; their reference is the plain convolution with the dilated filter.
    const dilated = dilateFilter(filter.values, c.filterShape, c.dilations);
    const cpuAttrs = { ...c, dilations: [1, 1] as [number, number] };

    const dwWasm = await runKernelOn(
      'wasm',
      'Conv2DBackpropFilter',
      { x, dy },
      convAttrs(c, { filterShape: c.filterShape }),
    );
    const dwCpu = await runKernelOn(
      'cpu',
      'Conv2DBackpropFilter',
      { x, dy },
      convAttrs(cpuAttrs, { filterShape: dilated.shape }),
    );
    expectClose(dwWasm, undilateFilter(dwCpu, c.filterShape, c.dilations), `filter gradient, ${describeCase(c)}`);

    const dxWasm = await runKernelOn(
      'wasm',
      'Conv2DBackpropInput',
      { dy, filter },
      convAttrs(c, { inputShape: c.xShape }),
    );
    const dxCpu = await runKernelOn(
      'cpu',
      'Conv2DBackpropInput',
      { dy, filter: dilated },
      convAttrs(cpuAttrs, { inputShape: c.xShape }),
    );
    expectClose(dxWasm, dxCpu, `input gradient, ${describeCase(c)}`);
  });
});

describe('wasm depthwise backward kernels match cpu', () => {
  it.each(Array.from({ length: CASES }, (_, i) => 2000 + i))('random case, seed %i', async (seed) => {
    // Odd seeds: multiplier 1 and channels a multiple of 4, the filter gradient's SIMD path.
    const random = randomConvCase(seed, { depthwise: true, maxDilation: 2 });
    const c = seed % 2 === 0 ? random : withDepthwiseChannels(random, 4 * (1 + (seed % 3)));
    const rng = seededRng(seed * 7919);
    const x = { values: randomData(size(c.xShape), rng), shape: c.xShape };
    const filter = { values: randomData(size(c.filterShape), rng), shape: c.filterShape };
    const dy = { values: randomData(size(c.outShape), rng), shape: c.outShape };
    // As above: the cpu filter gradient ignores `dilations`, so the reference uses the dilated filter.
    const dilated = dilateFilter(filter.values, c.filterShape, c.dilations);
    const cpuAttrs = { ...c, dilations: [1, 1] as [number, number] };

    const dwWasm = await runKernelOn(
      'wasm',
      'DepthwiseConv2dNativeBackpropFilter',
      { x, dy },
      convAttrs(c, { filterShape: c.filterShape }),
    );
    const dwCpu = await runKernelOn(
      'cpu',
      'DepthwiseConv2dNativeBackpropFilter',
      { x, dy },
      convAttrs(cpuAttrs, { filterShape: dilated.shape }),
    );
    expectClose(dwWasm, undilateFilter(dwCpu, c.filterShape, c.dilations), `filter gradient, ${describeCase(c)}`);

    const dxWasm = await runKernelOn(
      'wasm',
      'DepthwiseConv2dNativeBackpropInput',
      { dy, filter },
      convAttrs(c, { inputShape: c.xShape }),
    );
    const dxCpu = await runKernelOn(
      'cpu',
      'DepthwiseConv2dNativeBackpropInput',
      { dy, filter: dilated },
      convAttrs(cpuAttrs, { inputShape: c.xShape }),
    );
    expectClose(dxWasm, dxCpu, `input gradient, ${describeCase(c)}`);
  });
});

describe('wasm MaxPoolGrad matches cpu', () => {
  // Even seeds: random windows; odd seeds: the 2x2 / stride 2 fast path on odd and even sizes.
  it.each(Array.from({ length: CASES }, (_, i) => 3000 + i))('random case, seed %i', async (seed) => {
    const random = randomConvCase(seed, { depthwise: true, maxDilation: 1 });
    // Channel counts that are multiples of 4 take the SIMD kernel.
    const [b, h, w] = random.xShape;
    const twoByTwo: ConvCase = {
      ...random,
      xShape: [b, h, w, 4 * (1 + (seed % 3))],
      filterShape: [2, 2, 1, 1],
      strides: [2, 2],
      pad: seed % 4 === 1 ? 'valid' : 'same',
    };
    const c = seed % 2 === 0 ? random : twoByTwo;
    if (c.xShape[1] < 2 || c.xShape[2] < 2) c.xShape = [c.xShape[0], c.xShape[1] + 2, c.xShape[2] + 2, c.xShape[3]];
    const rng = seededRng(seed * 7919);
    // Rounded values make ties common, so the first-maximum rule is exercised; so are NaN and infinities.
    const special = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY];
    const xValues = randomData(size(c.xShape), rng).map((v) =>
      rng() < 0.02 ? special[Math.floor(rng() * 3)] : Math.round(v * 3),
    );
    const attrs = {
      filterSize: [c.filterShape[0], c.filterShape[1]],
      strides: c.strides,
      pad: c.pad,
      dimRoundingMode: undefined,
    } as unknown as NamedAttrMap;
    await tf.setBackend('cpu');
    const pooled = tf.engine().runKernel<tf.Tensor>('MaxPool', { x: tf.tensor(xValues, c.xShape) }, attrs);
    const output = { values: (await pooled.data()) as Float32Array, shape: pooled.shape };
    tf.dispose(pooled);
    const dy = { values: randomData(size(output.shape), rng), shape: output.shape };
    const inputs = { dy, input: { values: xValues, shape: c.xShape }, output };
    const wasm = await runKernelOn('wasm', 'MaxPoolGrad', inputs, attrs);
    const cpu = await runKernelOn('cpu', 'MaxPoolGrad', inputs, attrs);
    expectClose(wasm, cpu, describeCase(c));
  });
});

describe('wasm BatchMatMul (explicit transposes) matches cpu', () => {
  it.each(Array.from({ length: 16 }, (_, i) => 4000 + i))('random case, seed %i', async (seed) => {
    const rng = seededRng(seed);
    const int = (lo: number, hi: number) => lo + Math.floor(rng() * (hi - lo + 1));
    const [m, k, n] = [int(1, 40), int(1, 40), int(1, 40)];
    const transposeA = seed % 2 === 1;
    const transposeB = seed % 4 >= 2;
    // Some cases multiply batches of matrices, one of them broadcast.
    const batchA = seed % 8 >= 4 ? [int(1, 3)] : [];
    const batchB = batchA.length > 0 && seed % 3 === 0 ? [1] : batchA;
    const aShape = [...batchA, ...(transposeA ? [k, m] : [m, k])];
    const bShape = [...batchB, ...(transposeB ? [n, k] : [k, n])];
    const inputs = {
      a: { values: randomData(size(aShape), rng), shape: aShape },
      b: { values: randomData(size(bShape), rng), shape: bShape },
    };
    const attrs = { transposeA, transposeB } as unknown as NamedAttrMap;
    const wasm = await runKernelOn('wasm', 'BatchMatMul', inputs, attrs);
    const cpu = await runKernelOn('cpu', 'BatchMatMul', inputs, attrs);
    expectClose(
      wasm,
      cpu,
      `seed ${seed}: a [${aShape.join(',')}] b [${bShape.join(',')}] transposeA ${transposeA} transposeB ${transposeB}`,
    );
  });
});

describe('wasm Sum over leading axes matches cpu', () => {
  it.each(Array.from({ length: 12 }, (_, i) => 5000 + i))('random case, seed %i', async (seed) => {
    const rng = seededRng(seed);
    const shape = Array.from({ length: 2 + (seed % 3) }, () => 1 + Math.floor(rng() * 9));
    const lead = 1 + (seed % (shape.length - 1));
    const attrs = {
      axis: Array.from({ length: lead }, (_, i) => i),
      keepDims: seed % 2 === 0,
    } as unknown as NamedAttrMap;
    const inputs = { x: { values: randomData(size(shape), rng), shape } };
    const wasm = await runKernelOn('wasm', 'Sum', inputs, attrs);
    const cpu = await runKernelOn('cpu', 'Sum', inputs, attrs);
    expectClose(wasm, cpu, `seed ${seed}: shape [${shape.join(',')}] leading axes ${lead}`);
  });
});

describe('wasm Identity and same-type Cast share buffers safely', () => {
  it('clones and same-type casts outlive their source, and every buffer is freed once', async () => {
    await tf.setBackend('wasm');
    const before = tf.memory().numDataBuffers;
    const x = tf.tensor([1, 2, 3]);
    const copy = tf.clone(x);
    const same = tf.cast(x, 'float32');
    const ints = tf.cast(x, 'int32');
    x.dispose();
    expect(Array.from(await copy.data())).toEqual([1, 2, 3]);
    expect(Array.from(await same.data())).toEqual([1, 2, 3]);
    expect(ints.dtype).toBe('int32');
    tf.dispose([copy, same, ints]);
    expect(tf.memory().numDataBuffers).toBe(before);
  });
});
