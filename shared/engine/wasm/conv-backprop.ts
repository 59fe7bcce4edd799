import type { KernelConfig, KernelFunc, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import {
  BatchMatMul,
  Conv2DBackpropFilter,
  Conv2DBackpropInput,
  DepthwiseConv2dNativeBackpropFilter,
  DepthwiseConv2dNativeBackpropInput,
} from '@tensorflow/tfjs-core';
import { convGeometry, inputGradPads } from './conv-geometry.js';
import { heapKernels } from './heap-kernels.js';
import { WasmOps } from './wasm-ops.js';

/*
 * The backward passes of 2-D convolutions as XNNPACK matrix products and convolutions over
 * rearranged tensors, or our SIMD heap kernels, never scalar loops over the arithmetic:
 *
 *  filter gradient: dW[kh,kw,ci,co] = sum_{b,oh,ow} x[b, oh*s + kh*d - p, ., ci] * dy[b,oh,ow,co]
 *    accumulated per filter tap by our heap kernel, or ONE matrix product of the input patches
 *    (im2col) with dy for narrow outputs;
 *  input gradient: ONE matrix product of dy with the filter's transpose, whose rows col2im (the
 *    adjoint of im2col) adds into the input pixels.
 *
 * The depthwise filter gradient is as much arithmetic as the forward pass but no GEMM: one SIMD
 * pass over dy in our heap kernel. The depthwise input gradient is the depthwise convolution of the
 * spread dy with the flipped filter, summed over the channel multiplier.
 */

interface KernelArgs {
  inputs: Record<string, TensorInfo>;
  backend: unknown;
  attrs?: NamedAttrMap;
}

function shapeAttr(attrs: NamedAttrMap | undefined, name: string): number[] {
  const value = attrs?.[name];
  if (!Array.isArray(value)) throw new Error(`missing attribute '${name}'`);
  return value as number[];
}

/**
 * dW straight from x and dy in our heap kernel, one filter tap at a time, 16 output channels held
 * in registers along each output row (two input channels share each load of dy): no im2col, no
 * transposes, and none of XNNPACK's re-packing of dy, which is new data every step (seed CNN,
 * batch 128, CPU time in one process: second layer 15-16 ms against 24-25 for im2col x dy; the
 * 9-tap first layer 2.1-2.7 ms, 5.4 with the earlier accumulation per pixel through memory). Where
 * neither the output channels come in 16s nor the taps are fewer than them, the kernel would run
 * on narrow rows: dW = patches^T x dy as ONE matrix product [K, P] x [P, outC] (K = kh*kw*inC),
 * the patches transposed by im2col from x's channel planes.
 */
function conv2dBackpropFilter({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const { x, dy } = inputs;
  const ops = new WasmOps(backend as BackendWasm);
  const g = convGeometry(Conv2DBackpropFilter, x.shape, shapeAttr(attrs, 'filterShape'), attrs ?? {}, false);
  const taps = g.filterHeight * g.filterWidth * g.inChannels;
  const rows = g.batchSize * g.outHeight * g.outWidth;
  const filterShape = [g.filterHeight, g.filterWidth, g.inChannels, g.outChannels];
  const kernels = heapKernels(ops.backend);
  // The JavaScript fallback (no SIMD module) keeps the matrix product wherever it can.
  if (taps < g.outChannels || (kernels.kind === 'simd' && g.outChannels % 16 === 0)) {
    const grad = ops.backend.makeOutput(filterShape, 'float32');
    kernels.convFilterGradDirect(x, dy, grad, g);
    return grad;
  }
  const planes = ops.transpose2d(x, g.batchSize * g.inHeight * g.inWidth, g.inChannels);
  const patchesT = ops.backend.makeOutput([taps, rows], 'float32');
  kernels.im2colTransposed(planes, patchesT, g);
  ops.free(planes);
  const grad = ops.run(
    BatchMatMul,
    { a: ops.view(patchesT, [1, taps, rows]), b: ops.view(dy, [1, rows, g.outChannels]) },
    { transposeA: false, transposeB: false },
  );
  ops.free(patchesT);
  return ops.view(grad, filterShape);
}

/**
 * dx as ONE matrix product, cols [P, K] = dy [P, outC] x filter^T [outC, K], then col2im adds each
 * row's taps into the input pixels they read. Exactly the forward pass's arithmetic: the
 * convolution of the spread dy with the flipped filter would also multiply the zeros of its
 * (kh-1)-wide padding (40% more for the seed CNN's second layer).
 */
function conv2dBackpropInput({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const { dy, filter } = inputs;
  const ops = new WasmOps(backend as BackendWasm);
  const inputShape = shapeAttr(attrs, 'inputShape');
  const g = convGeometry(Conv2DBackpropInput, inputShape, filter.shape, attrs ?? {}, false);
  const taps = g.filterHeight * g.filterWidth * g.inChannels;
  const rows = g.batchSize * g.outHeight * g.outWidth;
  const filterT = ops.transpose2d(filter, taps, g.outChannels);
  const cols = ops.run(
    BatchMatMul,
    { a: ops.view(dy, [1, rows, g.outChannels]), b: ops.view(filterT, [1, g.outChannels, taps]) },
    { transposeA: false, transposeB: false },
  );
  ops.free(filterT);
  const dx = ops.backend.makeOutput(inputShape, 'float32');
  heapKernels(ops.backend).col2im(cols, dx, g);
  ops.free(cols);
  return dx;
}

function depthwiseBackpropFilter({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const { x, dy } = inputs;
  const ops = new WasmOps(backend as BackendWasm);
  const filterShape = shapeAttr(attrs, 'filterShape');
  const g = convGeometry(DepthwiseConv2dNativeBackpropFilter, x.shape, filterShape, attrs ?? {}, true);
  const out = ops.backend.makeOutput(filterShape, 'float32');
  heapKernels(ops.backend).depthwiseFilterGrad(x, dy, out, g);
  return out;
}

function depthwiseBackpropInput({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const { dy, filter } = inputs;
  const ops = new WasmOps(backend as BackendWasm);
  const inputShape = shapeAttr(attrs, 'inputShape');
  const g = convGeometry(DepthwiseConv2dNativeBackpropInput, inputShape, filter.shape, attrs ?? {}, true);
  const [kh, kw, channels, multiplier] = filter.shape;
  const flipped = ops.reverse(filter, [0, 1]);
  const spread = ops.spread(dy, g.strideHeight, g.strideWidth);
  const perOutput = ops.conv(
    spread,
    ops.view(flipped, [kh, kw, channels * multiplier, 1]),
    [1, 1],
    [g.dilationHeight, g.dilationWidth],
    inputGradPads(g),
    true,
  );
  if (spread !== dy) ops.free(spread);
  ops.free(flipped);
  if (multiplier === 1) return perOutput;
  const [batch, height, width] = inputShape;
  const dx = ops.sum(ops.view(perOutput, [batch, height, width, channels, multiplier]), [4]);
  ops.free(perOutput);
  return dx;
}

function wasmKernel(kernelName: string, fn: (args: KernelArgs) => TensorInfo): KernelConfig {
  return { kernelName, backendName: 'wasm', kernelFunc: fn as unknown as KernelFunc };
}

export const convBackpropKernels: KernelConfig[] = [
  wasmKernel(Conv2DBackpropFilter, conv2dBackpropFilter),
  wasmKernel(Conv2DBackpropInput, conv2dBackpropInput),
  wasmKernel(DepthwiseConv2dNativeBackpropFilter, depthwiseBackpropFilter),
  wasmKernel(DepthwiseConv2dNativeBackpropInput, depthwiseBackpropInput),
];
