import type { KernelConfig, KernelFunc, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { Identity } from '@tensorflow/tfjs-core';
import { replaceKernelFunc } from './wasm-ops.js';

/*
 * Kernels that return their input unchanged share its buffer (one more reference) instead of
 * copying it, as the cpu backend does; tensors are immutable. While recording gradients the engine
 * clones every tensor it saves for the backward pass, and ReLU's gradient casts float32 to
 * float32: with the stock copying kernels these cost ~5% of a seed-CNN training step.
 */

function share(backend: BackendWasm, x: TensorInfo): TensorInfo {
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

function identity({ inputs, backend }: { inputs: { x: TensorInfo }; backend: BackendWasm }): TensorInfo {
  return share(backend, inputs.x);
}

export const identityKernel: KernelConfig = {
  kernelName: Identity,
  backendName: 'wasm',
  kernelFunc: identity as unknown as KernelFunc,
};

/** Cast that shares when the type does not change; real conversions go to the stock kernel. */
export function withSameTypeCastShared(stock: KernelConfig): KernelConfig {
  const kernelFunc = (args: { inputs: { x: TensorInfo }; backend: BackendWasm; attrs: NamedAttrMap }): TensorInfo => {
    if (args.attrs.dtype === args.inputs.x.dtype) return share(args.backend, args.inputs.x);
    return stock.kernelFunc(args) as TensorInfo;
  };
  return replaceKernelFunc(stock, kernelFunc);
}
