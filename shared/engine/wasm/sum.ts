import { util, type KernelConfig, type NamedAttrMap, type TensorInfo } from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { SumAttrs } from '@tensorflow/tfjs-core';
import { heapKernels } from './heap-kernels.js';
import { replaceKernelFunc } from './wasm-ops.js';

interface SumArgs {
  inputs: { x: TensorInfo };
  backend: BackendWasm;
  attrs: NamedAttrMap;
}

/** How many leading axes `axes` reduces when it is exactly 0..k-1 (k < rank), else 0. */
function leadingAxes(axis: number | number[], rank: number): number {
  const axes = [...new Set(util.parseAxisParam(axis, new Array<number>(rank).fill(1)))].sort((a, b) => a - b);
  const k = axes.length;
  return k > 0 && k < rank && axes[k - 1] === k - 1 ? k : 0;
}

/**
 * Sum over leading axes (every bias gradient: sum over batch, height and width) as one pass of
 * row additions (our heap kernel). The stock kernel first transposes the reduced axes to the end,
 * a full extra copy. Accumulates in float64, like the cpu backend.
 */
export function withLeadingAxesSum(stock: KernelConfig): KernelConfig {
  const kernelFunc = ({ inputs, backend, attrs }: SumArgs): TensorInfo => {
    const { x } = inputs;
    const { axis, keepDims } = attrs as unknown as SumAttrs;
    const k = x.dtype === 'float32' ? leadingAxes(axis, x.shape.length) : 0;
    if (k === 0 || util.sizeFromShape(x.shape) === 0) return stock.kernelFunc({ inputs, backend, attrs }) as TensorInfo;
    const kept = x.shape.slice(k);
    const width = util.sizeFromShape(kept);
    const rows = util.sizeFromShape(x.shape.slice(0, k));
    const out = backend.makeOutput(keepDims ? [...new Array<number>(k).fill(1), ...kept] : kept, 'float32');
    heapKernels(backend).sumRows(x, out, rows, width);
    return out;
  };
  return replaceKernelFunc(stock, kernelFunc);
}
