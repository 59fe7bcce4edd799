import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { setupBackend } from '../../../shared/engine/backend.js';
import { convReluPool2x2, convReluPoolAvailable } from '../../../shared/engine/wasm/conv-relu-pool.js';
import { randomData, relativeL2, seededRng } from './kernel-cases.js';

const quiet = { log: () => {}, argv: [], env: {} };

beforeAll(async () => {
  await setupBackend('wasm', quiet);
});

function int(rng: () => number, lo: number, hi: number): number {
  return lo + Math.floor(rng() * (hi - lo + 1));
}

interface Case {
  x: Float32Array;
  filter: Float32Array;
  bias: Float32Array;
  dy: Float32Array;
  xShape: [number, number, number, number];
  filterShape: [number, number, number, number];
  strides: [number, number];
  pad: 'valid' | 'same';
}

function randomCase(seed: number): Case {
  const rng = seededRng(seed);
  const [b, h, w, ci] = [int(rng, 1, 3), int(rng, 5, 12), int(rng, 5, 12), int(rng, 1, 5)];
  // Multiples of 4 output channels take the SIMD path, the others the JavaScript one.
  const co = seed % 4 === 0 ? int(rng, 1, 7) : 4 * int(rng, 1, 3);
  const pad = seed % 2 === 0 ? 'same' : 'valid';
  // 'same' with an even filter: the stock wasm Conv2D splits the padding unlike the cpu backend.
  const side = (): number => (pad === 'same' ? 2 * int(rng, 0, 1) + 1 : int(rng, 1, 3));
  const filterShape: [number, number, number, number] = [side(), side(), ci, co];
  const strides: [number, number] = [int(rng, 1, 2), int(rng, 1, 2)];
  const info = tf.backend_util.computeConv2DInfo([b, h, w, ci], filterShape, strides, 1, pad);
  const pooled = [b, Math.floor(info.outHeight / 2), Math.floor(info.outWidth / 2), co];
  const n = (shape: number[]) => shape.reduce((p, q) => p * q, 1);
  return {
    x: randomData(b * h * w * ci, rng),
    filter: randomData(n(filterShape), rng),
    // Negative biases make many ReLU outputs 0, so whole windows pass nothing back.
    bias: randomData(co, rng).map((v) => v - 0.5),
    dy: randomData(n(pooled), rng),
    xShape: [b, h, w, ci],
    filterShape,
    strides,
    pad,
  };
}

/** Output and gradients of sum(out * dy) for x, filter and bias. */
async function run(c: Case, fused: boolean): Promise<Float32Array[]> {
  const x = tf.tensor4d(c.x, c.xShape);
  const filter = tf.tensor4d(c.filter, c.filterShape);
  const bias = tf.tensor1d(c.bias);
  const f = (a: tf.Tensor, k: tf.Tensor, b: tf.Tensor): tf.Tensor4D =>
    fused
      ? convReluPool2x2(a as tf.Tensor4D, k as tf.Tensor4D, b as tf.Tensor1D, { strides: c.strides, pad: c.pad })
      : tf.maxPool(tf.relu(tf.add(tf.conv2d(a as tf.Tensor4D, k as tf.Tensor4D, c.strides, c.pad), b)), 2, 2, 'valid');
  const out = f(x, filter, bias);
  const dy = tf.tensor(c.dy, out.shape);
  const grads = tf.grads(f)([x, filter, bias], dy);
  const values = await Promise.all([out, ...grads].map(async (t) => (await t.data()) as Float32Array));
  tf.dispose([x, filter, bias, out, dy, ...grads]);
  return values;
}

describe('fused conv2d + bias + ReLU + 2x2 max pooling on wasm', () => {
  it.each(Array.from({ length: 24 }, (_, i) => 3000 + i))('matches the cpu backend, seed %i', async (seed) => {
    const c = randomCase(seed);
    await setupBackend('cpu', quiet);
    const expected = await run(c, false);
    await setupBackend('wasm', quiet);
    expect(convReluPoolAvailable()).toBe(true);
    const actual = await run(c, true);
    const names = ['output', 'dx', 'dfilter', 'dbias'];
    for (let i = 0; i < names.length; i++) {
      if (expected[i].some((v) => v !== 0))
        expect(relativeL2(actual[i], expected[i]), names[i]).toBeLessThanOrEqual(1e-5);
      else expect(Array.from(actual[i]), names[i]).toEqual(Array.from(expected[i]));
    }
  });

  it('is one kernel forward and leaves no tensors behind', async () => {
    await setupBackend('wasm', quiet);
    const c = randomCase(3001);
    const before = tf.memory().numTensors;
    const buffers = tf.backend().numDataIds();
    const profile = await tf.profile(() => run(c, true));
    expect(profile.kernels.map((k) => k.name)).toContain('FedserveConv2DReluMaxPool2x2');
    expect(profile.kernels.map((k) => k.name)).not.toContain('Relu');
    expect(tf.memory().numTensors).toBe(before);
    expect(tf.backend().numDataIds()).toBe(buffers);
  });

  it('is not available on the cpu backend', async () => {
    await setupBackend('cpu', quiet);
    expect(convReluPoolAvailable()).toBe(false);
    await setupBackend('wasm', quiet);
  });
});
