import { backend_util, type KernelConfig, type KernelFunc, type NamedAttrMap, type TensorInfo } from '@tensorflow/tfjs';
import { MaxPoolGrad, type MaxPoolGradAttrs } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { heapKernels } from './heap-kernels.js';

interface MaxPoolGradArgs {
  inputs: { dy: TensorInfo; input: TensorInfo; output: TensorInfo };
  backend: BackendWasm;
  attrs: NamedAttrMap;
}

/*
 * MaxPoolGrad in one pass over the windows: each output gradient goes to the FIRST maximum of its
 * window in row-major order, and NaN or -Infinity never win (the cpu backend's rule, so ties
 * resolve identically). The stock kernel re-scans every window for every input pixel. The usual
 * 2x2 / stride 2 pooling runs in our SIMD heap kernel.
 */

/** Any window, stride and padding; windows may overlap, so gradients accumulate. */
function anyWindows(xs: Float32Array, dys: Float32Array, dxs: Float32Array, info: backend_util.Conv2DInfo): void {
  const { batchSize, inHeight, inWidth, inChannels: channels, outHeight, outWidth } = info;
  const rowStride = inWidth * channels;
  let dyOffset = 0;
  for (let b = 0; b < batchSize; b++) {
    const imageOffset = b * inHeight * rowStride;
    for (let oy = 0; oy < outHeight; oy++) {
      const yStart = oy * info.strideHeight - info.padInfo.top;
      const yFrom = Math.max(0, yStart);
      const yTo = Math.min(inHeight, yStart + info.effectiveFilterHeight);
      for (let ox = 0; ox < outWidth; ox++) {
        const xStart = ox * info.strideWidth - info.padInfo.left;
        const xFrom = imageOffset + Math.max(0, xStart) * channels;
        const xTo = imageOffset + Math.min(inWidth, xStart + info.effectiveFilterWidth) * channels;
        // Channel-outer keeps the running maximum in registers; the window is cache-resident.
        for (let c = 0; c < channels; c++) {
          let best = Number.NEGATIVE_INFINITY;
          let where = -1;
          for (let y = yFrom; y < yTo; y++) {
            const row = y * rowStride + c;
            for (let i = row + xFrom; i < row + xTo; i += channels) {
              const v = xs[i];
              if (v > best) {
                best = v;
                where = i;
              }
            }
          }
          if (where >= 0) dxs[where] += dys[dyOffset + c];
        }
        dyOffset += channels;
      }
    }
  }
}

function maxPoolGrad({ inputs, backend, attrs }: MaxPoolGradArgs): TensorInfo {
  const { dy, input } = inputs;
  const a = attrs as unknown as MaxPoolGradAttrs;
  if (input.shape.length !== 4) throw new Error(`MaxPoolGrad needs a 4-D input, got [${input.shape.join(',')}]`);
  if (input.dtype !== 'float32' || dy.dtype !== 'float32') throw new Error('MaxPoolGrad on wasm needs float32 tensors');
  const info = backend_util.computePool2DInfo(
    input.shape as [number, number, number, number],
    a.filterSize,
    a.strides,
    1,
    a.pad,
    a.dimRoundingMode,
  );
  const dx = backend.makeOutput(input.shape, 'float32');
  const twoByTwo =
    info.filterHeight === 2 &&
    info.filterWidth === 2 &&
    info.strideHeight === 2 &&
    info.strideWidth === 2 &&
    info.padInfo.top === 0 &&
    info.padInfo.left === 0 &&
    2 * info.outHeight <= info.inHeight &&
    2 * info.outWidth <= info.inWidth;
  // Views are taken after the allocation above: growing the heap would detach older ones.
  const dxs = backend.typedArrayFromHeap(dx) as Float32Array;
  // The 2x2 path writes every pixel of every window; only pixels outside all windows need zeros.
  if (!twoByTwo || 2 * info.outHeight !== info.inHeight || 2 * info.outWidth !== info.inWidth) dxs.fill(0);
  if (twoByTwo) heapKernels(backend).maxPoolGrad2x2(input, dy, dx, info);
  else
    anyWindows(
      backend.typedArrayFromHeap(input) as Float32Array,
      backend.typedArrayFromHeap(dy) as Float32Array,
      dxs,
      info,
    );
  return dx;
}

export const maxPoolGradKernel: KernelConfig = {
  kernelName: MaxPoolGrad,
  backendName: 'wasm',
  kernelFunc: maxPoolGrad as unknown as KernelFunc,
};
