import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { setupBackend } from '../../../shared/engine/backend.js';
import { HEAP_KERNELS_WASM } from '../../../shared/engine/wasm/heap-kernels-binary.js';
import { assembleHeapKernels, binaryModuleSource } from '../../../shared/engine/wasm/compile-heap-kernels.node.js';
import { heapKernels, jsHeapKernels, type HeapKernels } from '../../../shared/engine/wasm/heap-kernels.js';
import { randomData, relativeL2, seededRng } from './kernel-cases.js';

let backend: BackendWasm;

beforeAll(async () => {
  await setupBackend('wasm', { log: () => {}, argv: [], env: {} });
  backend = tf.backend() as BackendWasm;
});

function size(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function int(rng: () => number, lo: number, hi: number): number {
  return lo + Math.floor(rng() * (hi - lo + 1));
}

/** Runs `fill` once with each implementation on fresh output tensors and returns both outputs. */
function both(shape: number[], fill: (k: HeapKernels, out: tf.Tensor) => void): [Float32Array, Float32Array] {
  const results = [heapKernels(backend), jsHeapKernels(backend)].map((k) => {
    const out = tf.fill(shape, 7);
    fill(k, out);
    const values = out.dataSync() as Float32Array;
    out.dispose();
    return values;
  });
  return [results[0], results[1]];
}

describe('heap kernels', () => {
  it('use the SIMD module in Node, assembled from the shipped source', async () => {
    expect(heapKernels(backend).kind).toBe('simd');
    expect(binaryModuleSource(await assembleHeapKernels())).toContain(`'${HEAP_KERNELS_WASM}'`);
  });

  it.each(Array.from({ length: 12 }, (_, i) => 500 + i))(
    'SIMD and JavaScript 2x2 max-pool gradients agree, seed %i',
    (seed) => {
      const rng = seededRng(seed);
      const [b, oh, ow, c] = [int(rng, 1, 3), int(rng, 1, 6), int(rng, 1, 6), 4 * int(rng, 1, 4)];
      const shape = [b, 2 * oh, 2 * ow, c];
      // Integers make ties common; some seeds sprinkle NaN and infinities over x and dy.
      const special = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY];
      const noisy = (v: number) => (seed % 3 === 0 && rng() < 0.05 ? special[int(rng, 0, 2)] : v);
      const x = tf.tensor(
        randomData(b * 4 * oh * ow * c, rng).map((v) => noisy(Math.round(v * 2))),
        shape,
      );
      const dy = tf.tensor(randomData(b * oh * ow * c, rng).map(noisy), [b, oh, ow, c]);
      const info = tf.backend_util.computePool2DInfo(shape as [number, number, number, number], 2, 2, 1, 'valid');
      const [simd, js] = both(shape, (k, out) => k.maxPoolGrad2x2(x, dy, out, info));
      expect(Array.from(simd)).toEqual(Array.from(js));
      tf.dispose([x, dy]);
    },
  );

  it.each(Array.from({ length: 12 }, (_, i) => 550 + i))(
    'SIMD and JavaScript 2x2 max-pool + ReLU + bias gradients agree, seed %i',
    (seed) => {
      const rng = seededRng(seed);
      const [b, oh, ow, c] = [int(rng, 1, 3), int(rng, 1, 6), int(rng, 1, 6), 4 * int(rng, 1, 4)];
      // Odd seeds: a last row and column outside every window.
      const shape = [b, 2 * oh + (seed % 2), 2 * ow + (seed % 2), c];
      const special = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY];
      const noisy = (v: number) => (seed % 3 === 0 && rng() < 0.05 ? special[int(rng, 0, 2)] : v);
      // A ReLU's output: many exact zeros, so whole windows tie at 0 and pass nothing.
      const x = tf.tensor(
        randomData(size(shape), rng).map((v) => noisy(Math.max(0, Math.round(v * 3)))),
        shape,
      );
      const dy = tf.tensor(randomData(b * oh * ow * c, rng).map(noisy), [b, oh, ow, c]);
      const info = tf.backend_util.computePool2DInfo(shape as [number, number, number, number], 2, 2, 1, 'valid');
      const results = [heapKernels(backend), jsHeapKernels(backend)].map((k) => {
        const dx = tf.zeros(shape);
        const bias = tf.fill([c], 7);
        k.maxPoolReluGrad2x2(x, dy, dx, bias, info);
        const values = [Array.from(dx.dataSync()), Array.from(bias.dataSync())];
        tf.dispose([dx, bias]);
        return values;
      });
      expect(results[0][0]).toEqual(results[1][0]);
      if (seed % 3 !== 0) expect(relativeL2(results[0][1], results[1][1])).toBeLessThanOrEqual(1e-7);
      // The ReLU's gradient: nothing flows to a zero output, and the pooling's gradient alone differs.
      const [dx] = results[0];
      const xs = x.dataSync();
      expect(dx.every((v, i) => xs[i] > 0 || v === 0 || Number.isNaN(v))).toBe(true);
      const plain = tf.zeros(shape);
      heapKernels(backend).maxPoolGrad2x2(x, dy, plain, info);
      expect(Array.from(plain.dataSync())).not.toEqual(dx);
      tf.dispose([x, dy, plain]);
    },
  );

  it.each(Array.from({ length: 12 }, (_, i) => 600 + i))('SIMD and JavaScript row sums agree, seed %i', (seed) => {
    const rng = seededRng(seed);
    const rows = int(rng, 1, 300);
    const width = int(rng, 1, 37);
    const x = tf.tensor(randomData(rows * width, rng), [rows, width]);
    const [simd, js] = both([width], (k, out) => k.sumRows(x, out, rows, width));
    expect(Array.from(simd)).toEqual(Array.from(js));
    x.dispose();
  });

  it.each(Array.from({ length: 12 }, (_, i) => 700 + i))('SIMD and JavaScript im2col agree, seed %i', (seed) => {
    const rng = seededRng(seed);
    const [b, h, w, c] = [int(rng, 1, 3), int(rng, 3, 9), int(rng, 3, 9), int(rng, 1, 4)];
    const pad = [
      [0, 0],
      [int(rng, 0, 2), int(rng, 0, 2)],
      [int(rng, 0, 2), int(rng, 0, 2)],
      [0, 0],
    ] as tf.backend_util.ExplicitPadding;
    const g = tf.backend_util.computeConv2DInfo(
      [b, h, w, c],
      [int(rng, 1, 3), int(rng, 1, 3), c, 2],
      [int(rng, 1, 2), int(rng, 1, 3)],
      [int(rng, 1, 2), int(rng, 1, 2)],
      pad,
    );
    const planes = tf.tensor(randomData(b * h * w * c, rng), [c, b, h, w]);
    const shape = [g.filterHeight * g.filterWidth * c, b * g.outHeight * g.outWidth];
    const [simd, js] = both(shape, (k, out) => k.im2colTransposed(planes, out, g));
    expect(Array.from(simd)).toEqual(Array.from(js));
    planes.dispose();
  });

  it.each(Array.from({ length: 8 }, (_, i) => 800 + i))('SIMD and JavaScript transposes agree, seed %i', (seed) => {
    const rng = seededRng(seed);
    const rows = int(rng, 1, 40);
    const cols = int(rng, 1, 40);
    const x = tf.tensor(randomData(rows * cols, rng), [rows, cols]);
    const [simd, js] = both([cols, rows], (k, out) => k.transpose2d(x, out, rows, cols));
    expect(Array.from(simd)).toEqual(Array.from(js));
    const reference = tf.transpose(x);
    expect(Array.from(js)).toEqual(Array.from(reference.dataSync()));
    tf.dispose([x, reference]);
  });

  it.each(Array.from({ length: 8 }, (_, i) => 900 + i))(
    'SIMD and JavaScript depthwise filter gradients agree, seed %i',
    (seed) => {
      const rng = seededRng(seed);
      const [b, h, w, c] = [int(rng, 1, 3), int(rng, 3, 9), int(rng, 3, 9), 4 * int(rng, 1, 3)];
      const filterShape: [number, number, number, number] = [int(rng, 1, 3), int(rng, 1, 3), c, 1];
      const pad = seed % 2 === 0 ? 'same' : 'valid';
      const g = tf.backend_util.computeConv2DInfo(
        [b, h, w, c],
        filterShape,
        [int(rng, 1, 2), int(rng, 1, 2)],
        [int(rng, 1, 2), int(rng, 1, 2)],
        pad,
        undefined,
        true,
      );
      const x = tf.tensor(randomData(b * h * w * c, rng), [b, h, w, c]);
      const dy = tf.tensor(randomData(b * g.outHeight * g.outWidth * c, rng), [b, g.outHeight, g.outWidth, c]);
      const [simd, js] = both(filterShape, (k, out) => k.depthwiseFilterGrad(x, dy, out, g));
      expect(Array.from(simd)).toEqual(Array.from(js));
      tf.dispose([x, dy]);
    },
  );
  it.each(Array.from({ length: 12 }, (_, i) => 1000 + i))('SIMD and JavaScript col2im agree, seed %i', (seed) => {
    const rng = seededRng(seed);
    const [b, h, w, c] = [int(rng, 1, 3), int(rng, 5, 9), int(rng, 5, 9), int(rng, 1, 9)];
    const pad = [
      [0, 0],
      [int(rng, 0, 2), int(rng, 0, 2)],
      [int(rng, 0, 2), int(rng, 0, 2)],
      [0, 0],
    ] as tf.backend_util.ExplicitPadding;
    const g = tf.backend_util.computeConv2DInfo(
      [b, h, w, c],
      [int(rng, 1, 3), int(rng, 1, 3), c, 2],
      [int(rng, 1, 2), int(rng, 1, 3)],
      [int(rng, 1, 2), int(rng, 1, 2)],
      pad,
    );
    const p = b * g.outHeight * g.outWidth;
    const taps = g.filterHeight * g.filterWidth * c;
    const cols = tf.tensor(randomData(p * taps, rng), [p, taps]);
    const [simd, js] = both([b, h, w, c], (k, out) => k.col2im(cols, out, g));
    expect(Array.from(simd)).toEqual(Array.from(js));
    // Images of at least 5 pixels hold every (dilated) filter: some pixel received a sum.
    expect(js.some((v) => v !== 0)).toBe(true);
    cols.dispose();
  });
  it.each(Array.from({ length: 8 }, (_, i) => 1100 + i))('SIMD and JavaScript Adam steps agree, seed %i', (seed) => {
    const rng = seededRng(seed);
    const n = int(rng, 1, 70);
    const f = Math.fround;
    const [w, g, m, v] = [1, 1, 0.1, 0.01].map((scale) =>
      tf.tensor(
        randomData(n, rng).map((x) => (scale === 0.01 ? Math.abs(x) : x) * scale),
        [n],
      ),
    );
    const c = {
      b1: f(0.9),
      b2: f(0.999),
      c1: f(0.1),
      c2: f(0.001),
      oneMinusAcc1: f(1 - 0.9 ** 3),
      oneMinusAcc2: f(1 - 0.999 ** 3),
      eps: f(1e-7),
      negLr: f(-1e-3),
    };
    const moments = (k: HeapKernels) => {
      const [mk, vk] = [m.clone(), v.clone()].map((t) => tf.add(t, 0));
      return { mk, vk, k };
    };
    const runs = [heapKernels(backend), jsHeapKernels(backend)].map((k) => moments(k));
    const [simd, js] = runs.map(({ mk, vk, k }) => {
      const out = tf.fill([n], 7);
      k.adam(w, g, mk, vk, out, c);
      const values = [out, mk, vk].map((t) => Array.from(t.dataSync()));
      tf.dispose([out, mk, vk]);
      return values;
    });
    expect(simd).toEqual(js);
    expect(js[0]).not.toEqual(Array.from(w.dataSync()));
    tf.dispose([w, g, m, v]);
  });
  it.each(Array.from({ length: 12 }, (_, i) => 1200 + i))(
    'SIMD and JavaScript direct filter gradients agree, seed %i',
    (seed) => {
      const rng = seededRng(seed);
      const [b, h, w, c] = [int(rng, 1, 3), int(rng, 5, 9), int(rng, 5, 9), int(rng, 1, 3)];
      const filterShape: [number, number, number, number] = [int(rng, 1, 3), int(rng, 1, 3), c, int(rng, 1, 19)];
      const pad = seed % 2 === 0 ? 'same' : 'valid';
      const g = tf.backend_util.computeConv2DInfo(
        [b, h, w, c],
        filterShape,
        [int(rng, 1, 2), int(rng, 1, 2)],
        [int(rng, 1, 2), int(rng, 1, 2)],
        pad,
      );
      const x = tf.tensor(randomData(b * h * w * c, rng), [b, h, w, c]);
      const dy = tf.tensor(randomData(b * g.outHeight * g.outWidth * g.outChannels, rng), [
        b,
        g.outHeight,
        g.outWidth,
        g.outChannels,
      ]);
      const [simd, js] = both(filterShape, (k, out) => k.convFilterGradDirect(x, dy, out, g));
      expect(Array.from(simd)).toEqual(Array.from(js));
      expect(js.some((v) => v !== 0)).toBe(true);
      tf.dispose([x, dy]);
    },
  );
});
