import * as tf from '@tensorflow/tfjs';
import type { NamedAttrMap } from '@tensorflow/tfjs';
import { seededRng, type Rng } from '../../../shared/random.js';

/** Helpers for comparing a kernel on wasm with the cpu backend on random shapes and data. */

export type PadSpec = 'valid' | 'same' | Array<[number, number]>;

export interface ConvCase {
  seed: number;
  xShape: [number, number, number, number];
  filterShape: [number, number, number, number];
  strides: [number, number];
  dilations: [number, number];
  pad: PadSpec;
  outShape: [number, number, number, number];
}

function int(rng: Rng, lo: number, hi: number): number {
  return lo + Math.floor(rng() * (hi - lo + 1));
}

export function randomData(size: number, rng: Rng): Float32Array {
  return Float32Array.from({ length: size }, () => rng() * 2 - 1);
}

export function relativeL2(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} != ${expected.length}`);
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < actual.length; i++) {
    diff += (actual[i] - expected[i]) ** 2;
    norm += expected[i] ** 2;
  }
  return norm === 0 ? Math.sqrt(diff) : Math.sqrt(diff / norm);
}

function outSize(inSize: number, k: number, stride: number, dilation: number, pad: PadSpec, axis: 1 | 2): number {
  const eff = (k - 1) * dilation + 1;
  if (pad === 'same') return Math.ceil(inSize / stride);
  const [before, after] = pad === 'valid' ? [0, 0] : pad[axis];
  return Math.floor((inSize + before + after - eff) / stride) + 1;
}

/**
 * A random convolution geometry with at least one output pixel: batch 1-3, odd and even sizes,
 * kernels 1-4, strides 1-3, dilations up to `maxDilation`, 'valid' / 'same' / explicit padding.
 */
export function randomConvCase(seed: number, opts: { depthwise: boolean; maxDilation: number }): ConvCase {
  const rng = seededRng(seed);
  for (;;) {
    const batch = int(rng, 1, 3);
    const h = int(rng, 1, 13);
    const w = int(rng, 1, 13);
    const inC = int(rng, 1, 5);
    const kh = int(rng, 1, 4);
    const kw = int(rng, 1, 4);
    const outC = opts.depthwise ? int(rng, 1, 3) : int(rng, 1, 6);
    const strides: [number, number] = [int(rng, 1, 3), int(rng, 1, 3)];
    const dilations: [number, number] = [int(rng, 1, opts.maxDilation), int(rng, 1, opts.maxDilation)];
    const kind = int(rng, 0, 2);
    const pad: PadSpec =
      kind === 0
        ? 'valid'
        : kind === 1
          ? 'same'
          : [
              [0, 0],
              [int(rng, 0, 2), int(rng, 0, 2)],
              [int(rng, 0, 2), int(rng, 0, 2)],
              [0, 0],
            ];
    const oh = outSize(h, kh, strides[0], dilations[0], pad, 1);
    const ow = outSize(w, kw, strides[1], dilations[1], pad, 2);
    if (oh < 1 || ow < 1) continue;
    return {
      seed,
      xShape: [batch, h, w, inC],
      filterShape: [kh, kw, inC, outC],
      strides,
      dilations,
      pad,
      outShape: [batch, oh, ow, opts.depthwise ? inC * outC : outC],
    };
  }
}

export function describeCase(c: ConvCase): string {
  const pad = typeof c.pad === 'string' ? c.pad : JSON.stringify(c.pad.slice(1, 3));
  return `seed ${c.seed}: x [${c.xShape.join(',')}] filter [${c.filterShape.join(',')}] strides [${c.strides.join(',')}] dilations [${c.dilations.join(',')}] pad ${pad}`;
}

/** Runs a kernel on the given backend with fresh tensors built from plain arrays; returns its values. */
export async function runKernelOn(
  backend: 'wasm' | 'cpu',
  kernelName: string,
  inputs: Record<string, { values: Float32Array; shape: number[] }>,
  attrs: NamedAttrMap,
): Promise<Float32Array> {
  await tf.setBackend(backend);
  const tensors: Record<string, tf.Tensor> = {};
  for (const [name, { values, shape }] of Object.entries(inputs)) tensors[name] = tf.tensor(values, shape);
  const out = tf.engine().runKernel<tf.Tensor>(kernelName, tensors, attrs);
  const values = (await out.data()) as Float32Array;
  tf.dispose([out, ...Object.values(tensors)]);
  return values;
}

export { seededRng };
