import { backend_util, type NamedAttrMap } from '@tensorflow/tfjs';
import type {
  Conv2DBackpropFilterAttrs,
  Conv2DBackpropInputAttrs,
  DepthwiseConv2dNativeBackpropFilterAttrs,
  DepthwiseConv2dNativeBackpropInputAttrs,
} from '@tensorflow/tfjs-core';

/** The attributes of the 2-D convolution backward kernels (only the depthwise ones have dilations). */
type ConvBackpropAttrs =
  | Conv2DBackpropFilterAttrs
  | Conv2DBackpropInputAttrs
  | DepthwiseConv2dNativeBackpropFilterAttrs
  | DepthwiseConv2dNativeBackpropInputAttrs;

/**
 * Shapes, strides, dilations and padding of the forward convolution whose gradient a kernel
 * computes, validated for what our wasm kernels support (NHWC, like the wasm forward kernels).
 */
export function convGeometry(
  kernelName: string,
  xShape: number[],
  filterShape: number[],
  attrs: NamedAttrMap,
  depthwise: boolean,
): backend_util.Conv2DInfo {
  const a = attrs as unknown as ConvBackpropAttrs;
  // Absent in attrs recorded before tfjs named it, so NHWC, the default.
  const dataFormat = ('dataFormat' in a ? (a.dataFormat as string | undefined) : undefined) ?? 'NHWC';
  if (dataFormat !== 'NHWC') {
    throw new Error(`${kernelName} on wasm supports dataFormat 'NHWC' only, got '${dataFormat}'`);
  }
  if (xShape.length !== 4 || filterShape.length !== 4) {
    throw new Error(
      `${kernelName} needs 4-D input and filter shapes, got [${xShape.join(',')}] and [${filterShape.join(',')}]`,
    );
  }
  return backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    a.strides,
    'dilations' in a ? a.dilations : 1,
    a.pad,
    a.dimRoundingMode,
    depthwise,
  );
}

/**
 * Padding of the stride-1 convolution of the spread output gradient (see WasmOps.spread) with the
 * flipped filter that computes the input gradient.
 */
export function inputGradPads(g: backend_util.Conv2DInfo): [number, number, number, number] {
  const spreadH = g.outHeight * g.strideHeight;
  const spreadW = g.outWidth * g.strideWidth;
  const top = (g.filterHeight - 1) * g.dilationHeight - g.padInfo.top;
  const left = (g.filterWidth - 1) * g.dilationWidth - g.padInfo.left;
  const bottom = g.inHeight + (g.filterHeight - 1) * g.dilationHeight - spreadH - top;
  const right = g.inWidth + (g.filterWidth - 1) * g.dilationWidth - spreadW - left;
  return [top, bottom, left, right];
}
