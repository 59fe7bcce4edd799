import type { KernelConfig, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { BatchMatMulAttrs } from '@tensorflow/tfjs-core';
import { replaceKernelFunc, WasmOps } from './wasm-ops.js';

interface MatMulArgs {
  inputs: Record<string, TensorInfo>;
  backend: BackendWasm;
  attrs: NamedAttrMap;
}

/** The last two axes swapped: our 2-D heap transpose for a single matrix, else the stock kernel. */
function swapLastTwo(ops: WasmOps, x: TensorInfo): TensorInfo {
  const rank = x.shape.length;
  const [rows, cols] = x.shape.slice(rank - 2);
  const batch = x.shape.slice(0, rank - 2).reduce((a, b) => a * b, 1);
  if (batch === 1) return ops.view(ops.transpose2d(x, rows, cols), [...x.shape.slice(0, rank - 2), cols, rows]);
  const perm = Array.from({ length: rank }, (_, i) => i);
  perm[rank - 2] = rank - 1;
  perm[rank - 1] = rank - 2;
  return ops.transpose(x, perm);
}

/**
 * The stock wasm (fused) matrix product is fast only without transposes (~7x slower with either,
 * as in every dense layer's backward pass): transpose the operand explicitly, then multiply.
 */
export function withExplicitTransposes(stock: KernelConfig): KernelConfig {
  const kernelFunc = ({ inputs, backend, attrs }: MatMulArgs): TensorInfo => {
    const { transposeA, transposeB } = attrs as unknown as BatchMatMulAttrs;
    if (!transposeA && !transposeB) return stock.kernelFunc({ inputs, backend, attrs }) as TensorInfo;
    const ops = new WasmOps(backend);
    const a = transposeA ? swapLastTwo(ops, inputs.a) : inputs.a;
    const b = transposeB ? swapLastTwo(ops, inputs.b) : inputs.b;
    const out = stock.kernelFunc({
      inputs: { ...inputs, a, b },
      backend,
      attrs: { ...attrs, transposeA: false, transposeB: false },
    }) as TensorInfo;
    if (a !== inputs.a) ops.free(a);
    if (b !== inputs.b) ops.free(b);
    return out;
  };
  return replaceKernelFunc(stock, kernelFunc);
}
