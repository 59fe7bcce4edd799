import * as tf from '@tensorflow/tfjs';
import {
  backend_util,
  type GradConfig,
  type KernelConfig,
  type KernelFunc,
  type NamedAttrMap,
  type TensorInfo,
} from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { Conv2DBackpropFilter, Conv2DBackpropInput, FusedConv2D, MaxPool } from '@tensorflow/tfjs-core';
import { heapKernels } from './heap-kernels.js';
import { WasmOps } from './wasm-ops.js';

/*
 * conv2d + bias + ReLU + 2x2 max pooling (stride 2, 'valid') as ONE op with its own gradient, for
 * training on wasm. tfjs runs a fused convolution unfused while it records gradients (Conv2D, Add,
 * Relu, then MaxPool: four kernels and three full-size intermediates), and its gradient is
 * MaxPoolGrad, Step, Multiply and Sum over the convolution's output. Here the forward pass is the
 * backend's FusedConv2D (bias and ReLU inside XNNPACK's output loop) and MaxPool; the backward pass
 * is one SIMD pass for pooling, ReLU and bias gradients, then the two convolution gradients.
 */

export const CONV_RELU_POOL = 'FedserveConv2DReluMaxPool2x2';
const RELU_POOL_GRAD = 'FedserveReluMaxPool2x2Grad';

export interface ConvReluPoolAttrs {
  strides: [number, number];
  pad: 'valid' | 'same';
}

interface Args {
  inputs: Record<string, TensorInfo>;
  backend: BackendWasm;
  attrs: NamedAttrMap;
}

function convAttrs(attrs: NamedAttrMap): NamedAttrMap {
  const { strides, pad } = attrs as unknown as ConvReluPoolAttrs;
  return { strides, pad, dataFormat: 'NHWC', dilations: [1, 1], dimRoundingMode: undefined } as unknown as NamedAttrMap;
}

const POOL_ATTRS = { filterSize: [2, 2], strides: [2, 2], pad: 'valid', dimRoundingMode: undefined };

/** Outputs [pooled, relu]: the gradient needs the ReLU's output, the pooling's input. */
function convReluPool({ inputs, backend, attrs }: Args): TensorInfo[] {
  const ops = new WasmOps(backend);
  const { x, filter, bias } = inputs;
  const relu = ops.run(
    FusedConv2D,
    { x, filter, bias },
    {
      ...convAttrs(attrs),
      activation: 'relu',
      leakyreluAlpha: 0,
    },
  );
  const pooled = ops.run(MaxPool, { x: relu }, POOL_ATTRS as unknown as NamedAttrMap);
  return [pooled, relu];
}

/** Outputs [d conv output, d bias] from the pooled output's gradient dy and the ReLU's output. */
function reluPoolGrad({ inputs, backend }: Args): TensorInfo[] {
  const { dy, relu } = inputs;
  const info = backend_util.computePool2DInfo(relu.shape as [number, number, number, number], 2, 2, 1, 'valid');
  const dz = backend.makeOutput(relu.shape, 'float32');
  const dBias = backend.makeOutput([info.inChannels], 'float32');
  // Only pixels outside every window (an odd last row or column) need zeros.
  if (2 * info.outHeight !== info.inHeight || 2 * info.outWidth !== info.inWidth)
    (backend.typedArrayFromHeap(dz) as Float32Array).fill(0);
  heapKernels(backend).maxPoolReluGrad2x2(relu, dy, dz, dBias, info);
  return [dz, dBias];
}

function gradient(
  dys: tf.Tensor | tf.Tensor[],
  saved: tf.Tensor[],
  attrs: NamedAttrMap,
): Record<string, () => tf.Tensor> {
  const [dy] = dys as tf.Tensor[];
  const [x, filter, relu] = saved;
  // Computed once for both convolution gradients and the bias; the engine disposes them after backprop.
  const [dz, dBias] = tf.engine().runKernel<tf.Tensor[]>(RELU_POOL_GRAD, { dy, relu });
  const conv = convAttrs(attrs);
  return {
    x: () =>
      tf.engine().runKernel<tf.Tensor>(Conv2DBackpropInput, { dy: dz, filter }, { ...conv, inputShape: x.shape }),
    filter: () =>
      tf.engine().runKernel<tf.Tensor>(Conv2DBackpropFilter, { x, dy: dz }, { ...conv, filterShape: filter.shape }),
    bias: () => dBias,
  };
}

export const convReluPoolKernels: KernelConfig[] = [
  { kernelName: CONV_RELU_POOL, backendName: 'wasm', kernelFunc: convReluPool as unknown as KernelFunc },
  { kernelName: RELU_POOL_GRAD, backendName: 'wasm', kernelFunc: reluPoolGrad as unknown as KernelFunc },
];

export const convReluPoolGradient: GradConfig = {
  kernelName: CONV_RELU_POOL,
  inputsToSave: ['x', 'filter'],
  outputsToSave: [false, true],
  gradFunc: gradient,
};

/** Whether this backend runs the op (the wasm backend once our kernels are registered). */
export function convReluPoolAvailable(): boolean {
  return tf.getBackend() === 'wasm' && tf.getKernel(CONV_RELU_POOL, 'wasm') !== undefined;
}

/**
 * maxPool2x2(relu(conv2d(x, filter) + bias)), NHWC, dilation 1, with the gradient above. Call only
 * where convReluPoolAvailable().
 */
export function convReluPool2x2(
  x: tf.Tensor4D,
  filter: tf.Tensor4D,
  bias: tf.Tensor1D,
  attrs: ConvReluPoolAttrs,
): tf.Tensor4D {
  const [pooled, relu] = tf
    .engine()
    .runKernel<tf.Tensor[]>(CONV_RELU_POOL, { x, filter, bias }, attrs as unknown as NamedAttrMap);
  // The gradient keeps its own reference (the engine saves a clone); callers see one output.
  relu.dispose();
  return pooled as tf.Tensor4D;
}
