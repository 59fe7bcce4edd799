import {
  getKernel,
  type KernelConfig,
  type KernelFunc,
  type NamedAttrMap,
  type NamedTensorInfoMap,
  type TensorInfo,
} from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { Conv2D, DepthwiseConv2dNative, PadV2, Reverse, Slice, Sum, Transpose } from '@tensorflow/tfjs-core';
import { heapKernels } from './heap-kernels.js';

/**
 * A wasm kernel config that keeps the stock kernel's setup and disposal (which own its XNNPACK
 * state) and swaps in our kernelFunc.
 */
export function replaceKernelFunc(stock: KernelConfig, kernelFunc: (args: never) => TensorInfo): KernelConfig {
  return {
    kernelName: stock.kernelName,
    backendName: 'wasm',
    setupFunc: stock.setupFunc,
    disposeFunc: stock.disposeFunc,
    kernelFunc: kernelFunc as unknown as KernelFunc,
  };
}

/** [top, bottom, left, right]; a negative side means "crop that many input rows/columns". */
export type Pads4 = [number, number, number, number];

/**
 * Calls the wasm backend's own (XNNPACK-backed) forward kernels on raw TensorInfos, outside the
 * engine: our backward kernels are compositions of these, and intermediates never become tensors,
 * so each helper's caller must `free` what it creates.
 */
export class WasmOps {
  constructor(readonly backend: BackendWasm) {}

  run(kernelName: string, inputs: NamedTensorInfoMap, attrs: NamedAttrMap): TensorInfo {
    const kernel = getKernel(kernelName, 'wasm');
    if (!kernel) throw new Error(`wasm backend has no '${kernelName}' kernel`);
    return kernel.kernelFunc({ inputs, attrs, backend: this.backend }) as TensorInfo;
  }

  free(...infos: TensorInfo[]): void {
    for (const t of infos) this.backend.disposeData(t.dataId);
  }

  /** Same buffer, new shape, no reference of its own: free the source, not the view. */
  view(t: TensorInfo, shape: number[]): TensorInfo {
    return { dataId: t.dataId, shape, dtype: t.dtype };
  }

  /** A transpose that only moves size-1 axes is a reshape: share the buffer instead of copying. */
  transpose(x: TensorInfo, perm: number[]): TensorInfo {
    const moved = perm.filter((axis) => x.shape[axis] !== 1);
    if (moved.every((axis, i) => i === 0 || moved[i - 1] < axis)) {
      this.backend.incRef(x.dataId);
      return this.view(
        x,
        perm.map((axis) => x.shape[axis]),
      );
    }
    return this.run(Transpose, { x }, { perm });
  }

  /** x viewed as [rows, cols], transposed by our heap kernel (faster than the stock Transpose). */
  transpose2d(x: TensorInfo, rows: number, cols: number): TensorInfo {
    const out = this.backend.makeOutput([cols, rows], x.dtype);
    heapKernels(this.backend).transpose2d(x, out, rows, cols);
    return out;
  }

  reverse(x: TensorInfo, dims: number[]): TensorInfo {
    return this.run(Reverse, { x }, { dims });
  }

  sum(x: TensorInfo, axis: number[]): TensorInfo {
    return this.run(Sum, { x }, { axis, keepDims: false });
  }

  pad(x: TensorInfo, paddings: Array<[number, number]>): TensorInfo {
    return this.run(PadV2, { x }, { paddings, constantValue: 0 });
  }

  slice(x: TensorInfo, begin: number[], size: number[]): TensorInfo {
    return this.run(Slice, { x }, { begin, size });
  }

  /**
   * Forward NHWC convolution (or depthwise convolution) with explicit, possibly negative, padding.
   * Stride and dilation may both exceed 1: XNNPACK supports it even though tf.conv2d refuses it.
   */
  conv(
    x: TensorInfo,
    filter: TensorInfo,
    strides: [number, number],
    dilations: [number, number],
    pads: Pads4,
    depthwise: boolean,
  ): TensorInfo {
    const [t, b, l, r] = pads;
    let input = x;
    if (t < 0 || b < 0 || l < 0 || r < 0) {
      const [n, h, w, c] = x.shape;
      const top = Math.max(0, -t);
      const left = Math.max(0, -l);
      const height = h - top - Math.max(0, -b);
      const width = w - left - Math.max(0, -r);
      input = this.slice(x, [0, top, left, 0], [n, height, width, c]);
    }
    const attrs = {
      strides,
      dilations,
      pad: [
        [0, 0],
        [Math.max(0, t), Math.max(0, b)],
        [Math.max(0, l), Math.max(0, r)],
        [0, 0],
      ],
      dataFormat: 'NHWC',
      dimRoundingMode: undefined,
    } as unknown as NamedAttrMap;
    const out = this.run(depthwise ? DepthwiseConv2dNative : Conv2D, { x: input, filter }, attrs);
    if (input !== x) this.free(input);
    return out;
  }

  /**
   * Spreads rows and columns apart so that element (i, j) lands at (i * sh, j * sw), zeros between:
   * turns a strided convolution's output gradient into a stride-1 problem. Returns the spread
   * tensor, whose last sh-1 rows / sw-1 columns are padding the caller accounts for.
   */
  spread(x: TensorInfo, sh: number, sw: number): TensorInfo {
    if (sh === 1 && sw === 1) return x;
    const [n, h, w, c] = x.shape;
    const spread = this.pad(this.view(x, [n, h, 1, w, 1, c]), [
      [0, 0],
      [0, 0],
      [0, sh - 1],
      [0, 0],
      [0, sw - 1],
      [0, 0],
    ]);
    return this.view(spread, [n, h * sh, w * sw, c]);
  }
}
