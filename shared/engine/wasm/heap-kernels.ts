import type { backend_util, TensorInfo } from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { HEAP_KERNELS_WASM } from './heap-kernels-binary.js';

/**
 * Memory-bound helpers of our backward kernels, working in place on the wasm backend's heap: our
 * SIMD WebAssembly module (heap-kernels.wat) where the runtime has wasm SIMD, else the same
 * algorithms in JavaScript. Both produce identical results; tests compare them.
 */
export interface HeapKernels {
  readonly kind: 'simd' | 'js';
  /**
   * dx of 2x2 / stride-2 max pooling whose windows lie inside the image (dx pixels outside every
   * window are left untouched): dy goes to each window's first maximum, NaN and -Infinity never win.
   */
  maxPoolGrad2x2(x: TensorInfo, dy: TensorInfo, dx: TensorInfo, info: backend_util.Conv2DInfo): void;
  /**
   * maxPoolGrad2x2 followed by the gradient of the ReLU whose output x is: dx is also multiplied
   * by step(x) (1 where x > 0, else 0; NaN for NaN), and bias [ch] receives that ReLU's bias
   * gradient, the per-channel sum of dx (float64 accumulation). dx pixels outside every window are
   * left untouched.
   */
  maxPoolReluGrad2x2(
    x: TensorInfo,
    dy: TensorInfo,
    dx: TensorInfo,
    bias: TensorInfo,
    info: backend_util.Conv2DInfo,
  ): void;
  /** out[c] = sum over rows of x viewed as [rows, width], accumulated in float64. */
  sumRows(x: TensorInfo, out: TensorInfo, rows: number, width: number): void;
  /**
   * The transposed im2col matrix [kh*kw*inC, batch*outH*outW] of the convolution `g`, from its
   * input laid out as channel planes [inC, batch, H, W]; zeros where a tap reads padding.
   */
  im2colTransposed(planes: TensorInfo, patchesT: TensorInfo, g: backend_util.Conv2DInfo): void;
  /** out = x^T with x viewed as [rows, cols]. */
  transpose2d(x: TensorInfo, out: TensorInfo, rows: number, cols: number): void;
  /**
   * Depthwise-convolution filter gradient out [kh, kw, inC, multiplier]: for every output pixel
   * and tap inside the image, x at the tap's pixel times dy, summed in float64.
   */
  depthwiseFilterGrad(x: TensorInfo, dy: TensorInfo, out: TensorInfo, g: backend_util.Conv2DInfo): void;
  /**
   * The adjoint of im2col for the convolution `g`: dx [batch, inH, inW, inC] is overwritten with,
   * per input pixel, the sum of the `cols` [batch*outH*outW, kh*kw*inC] entries of the output pixels
   * and taps that read it (the input gradient, given cols = dy x filter^T).
   */
  col2im(cols: TensorInfo, dx: TensorInfo, g: backend_util.Conv2DInfo): void;
  /**
   * Filter gradient out [kh, kw, inC, outC] of the convolution `g` straight from x and dy: for
   * every output pixel and tap inside the image, x at the tap's pixel times dy's row, float32 sums
   * in pixel order (rounded product, then rounded sum, as a SIMD multiply and add).
   */
  convFilterGradDirect(x: TensorInfo, dy: TensorInfo, out: TensorInfo, g: backend_util.Conv2DInfo): void;
  /**
   * One Adam step over a float32 variable `w` with gradient `g`: the moments `m` and `v` (same
   * size) are updated in place, the new weights written to `out`; float32 arithmetic in
   * tf.train.adam's order, so the result is bit-identical to it.
   */
  adam(w: TensorInfo, g: TensorInfo, m: TensorInfo, v: TensorInfo, out: TensorInfo, c: AdamConstants): void;
}

/** Adam's per-step scalars, already rounded to float32. */
export interface AdamConstants {
  b1: number;
  b2: number;
  /** 1 - b1, 1 - b2 */
  c1: number;
  c2: number;
  /** 1 - b1^t, 1 - b2^t */
  oneMinusAcc1: number;
  oneMinusAcc2: number;
  eps: number;
  negLr: number;
}

const f = Math.fround;

/** Output columns [lo, hi) whose tap at horizontal offset `offset` lies inside the image. */
export function insideColumns(offset: number, stride: number, inWidth: number, outWidth: number): [number, number] {
  const lo = Math.min(outWidth, Math.max(0, Math.ceil(-offset / stride)));
  const hi = Math.max(lo, Math.min(outWidth, Math.ceil((inWidth - offset) / stride)));
  return [lo, hi];
}

/** The exact rule for one 2x2 window-channel holding a non-finite value (+0 where nothing goes). */
function firstMaximum(
  xs: Float32Array,
  dxs: Float32Array,
  i0: number,
  i1: number,
  i2: number,
  i3: number,
  g: number,
): void {
  let best = Number.NEGATIVE_INFINITY;
  let where = -1;
  for (const i of [i0, i1, i2, i3]) {
    dxs[i] = 0;
    if (xs[i] > best) {
      best = xs[i];
      where = i;
    }
  }
  if (where >= 0) dxs[where] = g + 0;
}

class JsHeapKernels implements HeapKernels {
  readonly kind = 'js' as const;
  constructor(private readonly backend: BackendWasm) {}

  private f32(t: TensorInfo): Float32Array {
    return this.backend.typedArrayFromHeap(t) as Float32Array;
  }

  /** Branch-free selection: ReLU outputs tie at zero so often that branches mispredict. */
  maxPoolGrad2x2(x: TensorInfo, dy: TensorInfo, dx: TensorInfo, info: backend_util.Conv2DInfo): void {
    const xs = this.f32(x);
    const dys = this.f32(dy);
    const dxs = this.f32(dx);
    const { batchSize, inHeight, inWidth, inChannels: channels, outHeight, outWidth } = info;
    const rowStride = inWidth * channels;
    let dyOffset = 0;
    for (let b = 0; b < batchSize; b++) {
      const imageOffset = b * inHeight * rowStride;
      for (let oy = 0; oy < outHeight; oy++) {
        const rowOffset = imageOffset + 2 * oy * rowStride;
        for (let ox = 0; ox < outWidth; ox++) {
          const pixel = rowOffset + 2 * ox * channels;
          for (let c = 0; c < channels; c++) {
            const i0 = pixel + c;
            const i1 = i0 + channels;
            const i2 = i0 + rowStride;
            const i3 = i2 + channels;
            const x0 = xs[i0];
            const x1 = xs[i1];
            const x2 = xs[i2];
            const x3 = xs[i3];
            const g = dys[dyOffset + c];
            const sum = x0 + x1 + x2 + x3 + g;
            if (sum - sum !== 0) {
              firstMaximum(xs, dxs, i0, i1, i2, i3, g);
              continue;
            }
            // With finite values exactly one of these 0/1 flags is set: the first maximum. Adding 0
            // turns -0 into +0, as the cpu backend's accumulation from 0 does.
            const ge01 = +(x0 >= x1);
            const ge02 = +(x0 >= x2);
            const ge12 = +(x1 >= x2);
            const s0 = ge01 & ge02 & +(x0 >= x3);
            const s1 = (1 - ge01) & ge12 & +(x1 >= x3);
            const s2 = (1 - ge02) & (1 - ge12) & +(x2 >= x3);
            dxs[i0] = g * s0 + 0;
            dxs[i1] = g * s1 + 0;
            dxs[i2] = g * s2 + 0;
            dxs[i3] = g * (1 - s0 - s1 - s2) + 0;
          }
          dyOffset += channels;
        }
      }
    }
  }

  maxPoolReluGrad2x2(
    x: TensorInfo,
    dy: TensorInfo,
    dx: TensorInfo,
    bias: TensorInfo,
    info: backend_util.Conv2DInfo,
  ): void {
    this.maxPoolGrad2x2(x, dy, dx, info);
    const xs = this.f32(x);
    const dxs = this.f32(dx);
    const channels = info.inChannels;
    const acc = new Float64Array(channels);
    const rowStride = info.inWidth * channels;
    // Only window pixels: the others are the caller's (zeros, whose product with step(x) adds nothing).
    for (let b = 0; b < info.batchSize; b++) {
      for (let y = 0; y < 2 * info.outHeight; y++) {
        const row = (b * info.inHeight + y) * rowStride;
        for (let i = row; i < row + 2 * info.outWidth * channels; i++) {
          const v = xs[i];
          // step(x) as tf.step computes it; +0 rather than -0 where it is 0, like the SIMD module.
          dxs[i] = v > 0 ? dxs[i] : v !== v ? NaN : 0;
          acc[i % channels] += dxs[i];
        }
      }
    }
    this.f32(bias).set(acc);
  }

  sumRows(x: TensorInfo, out: TensorInfo, rows: number, width: number): void {
    const xs = this.f32(x);
    const acc = new Float64Array(width);
    const unrolled = width - (width % 4);
    for (let r = 0; r < rows; r++) {
      const offset = r * width;
      // Four independent accumulators per step roughly halve the time of the plain loop.
      for (let c = 0; c < unrolled; c += 4) {
        acc[c] += xs[offset + c];
        acc[c + 1] += xs[offset + c + 1];
        acc[c + 2] += xs[offset + c + 2];
        acc[c + 3] += xs[offset + c + 3];
      }
      for (let c = unrolled; c < width; c++) acc[c] += xs[offset + c];
    }
    this.f32(out).set(acc);
  }

  im2colTransposed(planes: TensorInfo, patchesT: TensorInfo, g: backend_util.Conv2DInfo): void {
    const { batchSize, inHeight, inWidth, inChannels: ci, outHeight, outWidth, filterHeight, filterWidth } = g;
    const xs = this.f32(planes);
    const ps = this.f32(patchesT);
    const p = batchSize * outHeight * outWidth;
    const sw = g.strideWidth;
    for (let ky = 0; ky < filterHeight; ky++) {
      for (let kx = 0; kx < filterWidth; kx++) {
        const offset = kx * g.dilationWidth - g.padInfo.left;
        const [lo, hi] = insideColumns(offset, sw, inWidth, outWidth);
        for (let c = 0; c < ci; c++) {
          let dst = ((ky * filterWidth + kx) * ci + c) * p;
          for (let b = 0; b < batchSize; b++) {
            for (let oy = 0; oy < outHeight; oy++, dst += outWidth) {
              const y = oy * g.strideHeight + ky * g.dilationHeight - g.padInfo.top;
              if (y < 0 || y >= inHeight) {
                ps.fill(0, dst, dst + outWidth);
                continue;
              }
              const src = ((c * batchSize + b) * inHeight + y) * inWidth + offset;
              for (let ox = 0; ox < lo; ox++) ps[dst + ox] = 0;
              for (let ox = lo; ox < hi; ox++) ps[dst + ox] = xs[src + ox * sw];
              for (let ox = hi; ox < outWidth; ox++) ps[dst + ox] = 0;
            }
          }
        }
      }
    }
  }

  transpose2d(x: TensorInfo, out: TensorInfo, rows: number, cols: number): void {
    const xs = this.f32(x);
    const os = this.f32(out);
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) os[c * rows + r] = xs[r * cols + c];
    }
  }

  depthwiseFilterGrad(x: TensorInfo, dy: TensorInfo, out: TensorInfo, g: backend_util.Conv2DInfo): void {
    const xs = this.f32(x);
    const dys = this.f32(dy);
    const { batchSize, inHeight, inWidth, inChannels: ch, outHeight, outWidth, filterHeight, filterWidth } = g;
    const multiplier = g.outChannels / ch;
    const acc = new Float64Array(filterHeight * filterWidth * ch * multiplier);
    let dyRow = 0;
    for (let b = 0; b < batchSize; b++) {
      for (let oy = 0; oy < outHeight; oy++) {
        for (let ox = 0; ox < outWidth; ox++, dyRow += ch * multiplier) {
          for (let ky = 0; ky < filterHeight; ky++) {
            const y = oy * g.strideHeight + ky * g.dilationHeight - g.padInfo.top;
            if (y < 0 || y >= inHeight) continue;
            for (let kx = 0; kx < filterWidth; kx++) {
              const xx = ox * g.strideWidth + kx * g.dilationWidth - g.padInfo.left;
              if (xx < 0 || xx >= inWidth) continue;
              const xRow = ((b * inHeight + y) * inWidth + xx) * ch;
              const accRow = (ky * filterWidth + kx) * ch * multiplier;
              for (let c = 0; c < ch; c++) {
                const xv = xs[xRow + c];
                for (let m = 0; m < multiplier; m++)
                  acc[accRow + c * multiplier + m] += xv * dys[dyRow + c * multiplier + m];
              }
            }
          }
        }
      }
    }
    this.f32(out).set(acc);
  }

  col2im(cols: TensorInfo, dx: TensorInfo, g: backend_util.Conv2DInfo): void {
    const cs = this.f32(cols);
    const dxs = this.f32(dx);
    const { batchSize, inHeight, inWidth, inChannels: ch, outHeight, outWidth, filterHeight, filterWidth } = g;
    dxs.fill(0);
    let src = 0;
    for (let b = 0; b < batchSize; b++) {
      for (let oy = 0; oy < outHeight; oy++) {
        for (let ox = 0; ox < outWidth; ox++, src += filterHeight * filterWidth * ch) {
          for (let ky = 0; ky < filterHeight; ky++) {
            const y = oy * g.strideHeight + ky * g.dilationHeight - g.padInfo.top;
            if (y < 0 || y >= inHeight) continue;
            for (let kx = 0; kx < filterWidth; kx++) {
              const xx = ox * g.strideWidth + kx * g.dilationWidth - g.padInfo.left;
              if (xx < 0 || xx >= inWidth) continue;
              const dst = ((b * inHeight + y) * inWidth + xx) * ch;
              const tap = src + (ky * filterWidth + kx) * ch;
              for (let c = 0; c < ch; c++) dxs[dst + c] += cs[tap + c];
            }
          }
        }
      }
    }
  }

  convFilterGradDirect(x: TensorInfo, dy: TensorInfo, out: TensorInfo, g: backend_util.Conv2DInfo): void {
    const xs = this.f32(x);
    const dys = this.f32(dy);
    const acc = this.f32(out);
    const { batchSize, inHeight, inWidth, inChannels: ch, outHeight, outWidth, outChannels: co } = g;
    const { filterHeight, filterWidth } = g;
    acc.fill(0);
    let dyRow = 0;
    for (let b = 0; b < batchSize; b++) {
      for (let oy = 0; oy < outHeight; oy++) {
        for (let ox = 0; ox < outWidth; ox++, dyRow += co) {
          for (let ky = 0; ky < filterHeight; ky++) {
            const y = oy * g.strideHeight + ky * g.dilationHeight - g.padInfo.top;
            if (y < 0 || y >= inHeight) continue;
            for (let kx = 0; kx < filterWidth; kx++) {
              const xx = ox * g.strideWidth + kx * g.dilationWidth - g.padInfo.left;
              if (xx < 0 || xx >= inWidth) continue;
              const xRow = ((b * inHeight + y) * inWidth + xx) * ch;
              for (let c = 0; c < ch; c++) {
                const xv = xs[xRow + c];
                const accRow = ((ky * filterWidth + kx) * ch + c) * co;
                // Rounded product, then rounded sum: the float32 multiply-add of the SIMD module.
                for (let j = 0; j < co; j++) acc[accRow + j] += f(xv * dys[dyRow + j]);
              }
            }
          }
        }
      }
    }
  }

  adam(w: TensorInfo, g: TensorInfo, m: TensorInfo, v: TensorInfo, out: TensorInfo, c: AdamConstants): void {
    const ws = this.f32(w);
    const gs = this.f32(g);
    const ms = this.f32(m);
    const vs = this.f32(v);
    const os = this.f32(out);
    for (let k = 0; k < ws.length; k++) {
      const gk = gs[k];
      const mk = f(f(ms[k] * c.b1) + f(gk * c.c1));
      const vk = f(f(vs[k] * c.b2) + f(f(gk * gk) * c.c2));
      ms[k] = mk;
      vs[k] = vk;
      const step = f(f(f(mk / c.oneMinusAcc1) / f(f(Math.sqrt(f(vk / c.oneMinusAcc2))) + c.eps)) * c.negLr);
      os[k] = f(step + ws[k]);
    }
  }
}

interface SimdExports {
  maxPoolGrad2x2(
    x: number,
    dy: number,
    dx: number,
    batch: number,
    inH: number,
    inW: number,
    ch: number,
    outH: number,
    outW: number,
  ): number;
  maxPoolReluGrad2x2(
    x: number,
    dy: number,
    dx: number,
    acc: number,
    batch: number,
    inH: number,
    inW: number,
    ch: number,
    outH: number,
    outW: number,
  ): number;
  sumRows(x: number, out: number, acc: number, rows: number, width: number): void;
  im2colTap(
    planes: number,
    dst: number,
    ch: number,
    batch: number,
    inH: number,
    inW: number,
    outH: number,
    outW: number,
    p: number,
    yOff: number,
    sh: number,
    xOff: number,
    sw: number,
    lo: number,
    hi: number,
  ): void;
  transpose2d(x: number, out: number, rows: number, cols: number): void;
  depthwiseFilterGrad(
    x: number,
    dy: number,
    acc: number,
    batch: number,
    inH: number,
    inW: number,
    ch: number,
    outH: number,
    outW: number,
    kh: number,
    kw: number,
    sh: number,
    sw: number,
    dh: number,
    dw: number,
    pt: number,
    pl: number,
  ): void;
  col2im(
    cols: number,
    dx: number,
    batch: number,
    inH: number,
    inW: number,
    ch: number,
    outH: number,
    outW: number,
    kh: number,
    kw: number,
    sh: number,
    sw: number,
    dh: number,
    dw: number,
    pt: number,
    pl: number,
  ): void;
  convFilterGradTap(
    x: number,
    dy: number,
    acc: number,
    batch: number,
    inH: number,
    inW: number,
    ch: number,
    outH: number,
    outW: number,
    outC: number,
    sh: number,
    sw: number,
    yOff: number,
    xOff: number,
    lo: number,
    hi: number,
  ): void;
  adam(
    w: number,
    g: number,
    m: number,
    v: number,
    out: number,
    n: number,
    b1: number,
    b2: number,
    c1: number,
    c2: number,
    oneMinusAcc1: number,
    oneMinusAcc2: number,
    eps: number,
    negLr: number,
  ): void;
}

/** The parts of the emscripten module behind BackendWasm that we rely on. */
interface EmscriptenModule {
  asm?: { memory?: WebAssembly.Memory };
  _malloc(bytes: number): number;
  _free(pointer: number): void;
}

class SimdHeapKernels implements HeapKernels {
  readonly kind = 'simd' as const;
  constructor(
    private readonly backend: BackendWasm,
    private readonly module: EmscriptenModule,
    private readonly memory: WebAssembly.Memory,
    private readonly fns: SimdExports,
    private readonly js: JsHeapKernels,
  ) {}

  private at(t: TensorInfo): number {
    return this.backend.dataIdMap.get(t.dataId).memoryOffset;
  }

  maxPoolGrad2x2(x: TensorInfo, dy: TensorInfo, dx: TensorInfo, info: backend_util.Conv2DInfo): void {
    const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth } = info;
    // Four channels per SIMD lane group; windows with NaN or infinities need the exact scalar rule.
    if (inChannels % 4 !== 0) {
      this.js.maxPoolGrad2x2(x, dy, dx, info);
      return;
    }
    const unusual = this.fns.maxPoolGrad2x2(
      this.at(x),
      this.at(dy),
      this.at(dx),
      batchSize,
      inHeight,
      inWidth,
      inChannels,
      outHeight,
      outWidth,
    );
    if (unusual) this.js.maxPoolGrad2x2(x, dy, dx, info);
  }

  maxPoolReluGrad2x2(
    x: TensorInfo,
    dy: TensorInfo,
    dx: TensorInfo,
    bias: TensorInfo,
    info: backend_util.Conv2DInfo,
  ): void {
    const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth } = info;
    if (inChannels % 4 !== 0) {
      this.js.maxPoolReluGrad2x2(x, dy, dx, bias, info);
      return;
    }
    const acc = this.module._malloc(inChannels * 8);
    try {
      const unusual = this.fns.maxPoolReluGrad2x2(
        this.at(x),
        this.at(dy),
        this.at(dx),
        acc,
        batchSize,
        inHeight,
        inWidth,
        inChannels,
        outHeight,
        outWidth,
      );
      if (unusual) this.js.maxPoolReluGrad2x2(x, dy, dx, bias, info);
      else
        (this.backend.typedArrayFromHeap(bias) as Float32Array).set(
          new Float64Array(this.memory.buffer, acc, inChannels),
        );
    } finally {
      this.module._free(acc);
    }
  }

  sumRows(x: TensorInfo, out: TensorInfo, rows: number, width: number): void {
    const acc = this.module._malloc(width * 8);
    try {
      this.fns.sumRows(this.at(x), this.at(out), acc, rows, width);
    } finally {
      this.module._free(acc);
    }
  }

  im2colTransposed(planes: TensorInfo, patchesT: TensorInfo, g: backend_util.Conv2DInfo): void {
    const { batchSize, inHeight, inWidth, inChannels: ci, outHeight, outWidth, filterHeight, filterWidth } = g;
    const p = batchSize * outHeight * outWidth;
    const src = this.at(planes);
    const dst = this.at(patchesT);
    for (let ky = 0; ky < filterHeight; ky++) {
      for (let kx = 0; kx < filterWidth; kx++) {
        const xOff = kx * g.dilationWidth - g.padInfo.left;
        const [lo, hi] = insideColumns(xOff, g.strideWidth, inWidth, outWidth);
        const rows = dst + (ky * filterWidth + kx) * ci * p * 4;
        const yOff = ky * g.dilationHeight - g.padInfo.top;
        this.fns.im2colTap(
          src,
          rows,
          ci,
          batchSize,
          inHeight,
          inWidth,
          outHeight,
          outWidth,
          p,
          yOff,
          g.strideHeight,
          xOff,
          g.strideWidth,
          lo,
          hi,
        );
      }
    }
  }

  transpose2d(x: TensorInfo, out: TensorInfo, rows: number, cols: number): void {
    this.fns.transpose2d(this.at(x), this.at(out), rows, cols);
  }

  depthwiseFilterGrad(x: TensorInfo, dy: TensorInfo, out: TensorInfo, g: backend_util.Conv2DInfo): void {
    const { inChannels: ch } = g;
    // Four channels per SIMD lane group, one dy channel per input channel.
    if (g.outChannels !== ch || ch % 4 !== 0) {
      this.js.depthwiseFilterGrad(x, dy, out, g);
      return;
    }
    const size = g.filterHeight * g.filterWidth * ch;
    const acc = this.module._malloc(size * 8);
    try {
      // Views after the allocation, which may have grown the heap.
      const sums = new Float64Array(this.memory.buffer, acc, size);
      sums.fill(0);
      this.fns.depthwiseFilterGrad(
        this.at(x),
        this.at(dy),
        acc,
        g.batchSize,
        g.inHeight,
        g.inWidth,
        ch,
        g.outHeight,
        g.outWidth,
        g.filterHeight,
        g.filterWidth,
        g.strideHeight,
        g.strideWidth,
        g.dilationHeight,
        g.dilationWidth,
        g.padInfo.top,
        g.padInfo.left,
      );
      (this.backend.typedArrayFromHeap(out) as Float32Array).set(new Float64Array(this.memory.buffer, acc, size));
    } finally {
      this.module._free(acc);
    }
  }

  col2im(cols: TensorInfo, dx: TensorInfo, g: backend_util.Conv2DInfo): void {
    this.fns.col2im(
      this.at(cols),
      this.at(dx),
      g.batchSize,
      g.inHeight,
      g.inWidth,
      g.inChannels,
      g.outHeight,
      g.outWidth,
      g.filterHeight,
      g.filterWidth,
      g.strideHeight,
      g.strideWidth,
      g.dilationHeight,
      g.dilationWidth,
      g.padInfo.top,
      g.padInfo.left,
    );
  }

  convFilterGradDirect(x: TensorInfo, dy: TensorInfo, out: TensorInfo, g: backend_util.Conv2DInfo): void {
    const { filterHeight, filterWidth, inChannels: ch, outChannels: outC } = g;
    const acc = this.at(out);
    (this.backend.typedArrayFromHeap(out) as Float32Array).fill(0);
    for (let ky = 0; ky < filterHeight; ky++) {
      for (let kx = 0; kx < filterWidth; kx++) {
        const xOff = kx * g.dilationWidth - g.padInfo.left;
        const [lo, hi] = insideColumns(xOff, g.strideWidth, g.inWidth, g.outWidth);
        if (lo === hi) continue;
        this.fns.convFilterGradTap(
          this.at(x),
          this.at(dy),
          acc + (ky * filterWidth + kx) * ch * outC * 4,
          g.batchSize,
          g.inHeight,
          g.inWidth,
          ch,
          g.outHeight,
          g.outWidth,
          outC,
          g.strideHeight,
          g.strideWidth,
          ky * g.dilationHeight - g.padInfo.top,
          xOff,
          lo,
          hi,
        );
      }
    }
  }

  adam(w: TensorInfo, g: TensorInfo, m: TensorInfo, v: TensorInfo, out: TensorInfo, c: AdamConstants): void {
    const n = w.shape.reduce((a, b) => a * b, 1);
    this.fns.adam(
      this.at(w),
      this.at(g),
      this.at(m),
      this.at(v),
      this.at(out),
      n,
      c.b1,
      c.b2,
      c.c1,
      c.c2,
      c.oneMinusAcc1,
      c.oneMinusAcc2,
      c.eps,
      c.negLr,
    );
  }
}

function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

const cache = new WeakMap<BackendWasm, HeapKernels>();

/** The heap kernels for this backend instance: our SIMD module when the runtime can run it. */
export function heapKernels(backend: BackendWasm): HeapKernels {
  let kernels = cache.get(backend);
  if (!kernels) {
    const js = new JsHeapKernels(backend);
    const module = backend.wasm as unknown as EmscriptenModule;
    const memory = module.asm?.memory;
    const bytes = decodeBase64(HEAP_KERNELS_WASM);
    // The multi-threaded build's memory is shared, which our module does not declare: use JS there.
    const shared = typeof SharedArrayBuffer !== 'undefined' && memory?.buffer instanceof SharedArrayBuffer;
    if (memory instanceof WebAssembly.Memory && !shared && WebAssembly.validate(bytes)) {
      const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
      kernels = new SimdHeapKernels(backend, module, memory, instance.exports as unknown as SimdExports, js);
    } else {
      kernels = js;
    }
    cache.set(backend, kernels);
  }
  return kernels;
}

/** The JavaScript versions alone, for comparing against the SIMD module in tests. */
export function jsHeapKernels(backend: BackendWasm): HeapKernels {
  return new JsHeapKernels(backend);
}
