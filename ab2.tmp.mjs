const info = { batchSize: 128, inHeight: 26, inWidth: 26, inChannels: 32, outHeight: 13, outWidth: 13 };
const n = 128*26*26*32;
const px = new Float32Array(n).map(() => Math.max(Math.random() - 0.5, 0)), pdx = new Float32Array(n), pdy = new Float32Array(n/4).map(Math.random);
function V1(xs, dys, dxs, info) {
  const { batchSize, inHeight, inWidth, inChannels: channels, outHeight, outWidth } = info;
  const rowStride = inWidth * channels; let dyOffset = 0;
  for (let b = 0; b < batchSize; b++) { const imageOffset = b * inHeight * rowStride;
    for (let oy = 0; oy < outHeight; oy++) { const rowOffset = imageOffset + 2 * oy * rowStride;
      for (let ox = 0; ox < outWidth; ox++) { const pixel = rowOffset + 2 * ox * channels;
        for (let c = 0; c < channels; c++) {
          const i0 = pixel + c, i1 = i0 + channels, i2 = i0 + rowStride, i3 = i2 + channels;
          const x0 = xs[i0], x1 = xs[i1], x2 = xs[i2], x3 = xs[i3], g = dys[dyOffset + c];
          const m = Math.max(Math.max(x0, x1), Math.max(x2, x3));
          const e0 = +(x0 === m); const e1 = (1 - e0) * +(x1 === m); const e2 = (1 - e0 - e1) * +(x2 === m);
          dxs[i0] = g * e0; dxs[i1] = g * e1; dxs[i2] = g * e2; dxs[i3] = g * (1 - e0 - e1 - e2);
        }
        dyOffset += channels; } } }
}
function V2(xs, dys, dxs, info) {
  const { batchSize, inHeight, inWidth, inChannels: channels, outHeight, outWidth } = info;
  const rowStride = inWidth * channels; let dyOffset = 0;
  for (let b = 0; b < batchSize; b++) { const imageOffset = b * inHeight * rowStride;
    for (let oy = 0; oy < outHeight; oy++) { const rowOffset = imageOffset + 2 * oy * rowStride;
      for (let ox = 0; ox < outWidth; ox++) { const pixel = rowOffset + 2 * ox * channels;
        for (let c = 0; c < channels; c++) {
          const i0 = pixel + c, i1 = i0 + channels, i2 = i0 + rowStride, i3 = i2 + channels;
          const x0 = xs[i0], x1 = xs[i1], x2 = xs[i2], x3 = xs[i3], g = dys[dyOffset + c];
          // integer masks
          const a01 = (x0 >= x1) | 0, a02 = (x0 >= x2) | 0, a03 = (x0 >= x3) | 0;
          const s0 = a01 & a02 & a03;
          const b12 = (x1 >= x2) | 0, b13 = (x1 >= x3) | 0;
          const s1 = (1 - s0) & (1 - a01) & b12 & b13;
          const c23 = (x2 >= x3) | 0;
          const s2 = (1 - s0) & (1 - s1) & (1 - a02) & (1 - b12) & c23;
          const s3 = 1 - s0 - s1 - s2;
          dxs[i0] = g * s0; dxs[i1] = g * s1; dxs[i2] = g * s2; dxs[i3] = g * s3;
        }
        dyOffset += channels; } } }
}
function slow(xs,dys,dxs,i0,i1,i2,i3,g){ dxs[i0]=0; }
function V4(xs, dys, dxs, info) {
  const { batchSize, inHeight, inWidth, inChannels: channels, outHeight, outWidth } = info;
  const rowStride = inWidth * channels; let dyOffset = 0;
  for (let b = 0; b < batchSize; b++) { const imageOffset = b * inHeight * rowStride;
    for (let oy = 0; oy < outHeight; oy++) { const rowOffset = imageOffset + 2 * oy * rowStride;
      for (let ox = 0; ox < outWidth; ox++) { const pixel = rowOffset + 2 * ox * channels;
        for (let c = 0; c < channels; c++) {
          const i0 = pixel + c, i1 = i0 + channels, i2 = i0 + rowStride, i3 = i2 + channels;
          const x0 = xs[i0], x1 = xs[i1], x2 = xs[i2], x3 = xs[i3], g = dys[dyOffset + c];
          const t = x0 + x1 + x2 + x3 + g;
          if (t - t !== 0) { slow(xs,dys,dxs,i0,i1,i2,i3,g); continue; }
          const a01 = (x0 >= x1) | 0, a02 = (x0 >= x2) | 0, a03 = (x0 >= x3) | 0;
          const s0 = a01 & a02 & a03;
          const b12 = (x1 >= x2) | 0, b13 = (x1 >= x3) | 0;
          const s1 = (1 - s0) & (1 - a01) & b12 & b13;
          const c23 = (x2 >= x3) | 0;
          const s2 = (1 - s0) & (1 - s1) & (1 - a02) & (1 - b12) & c23;
          const s3 = 1 - s0 - s1 - s2;
          dxs[i0] = g * s0; dxs[i1] = g * s1; dxs[i2] = g * s2; dxs[i3] = g * s3;
        }
        dyOffset += channels; } } }
}
function V3(xs, dys, dxs, info) {
  const { batchSize, inHeight, inWidth, inChannels: channels, outHeight, outWidth } = info;
  const rowStride = inWidth * channels; let dyOffset = 0;
  for (let b = 0; b < batchSize; b++) { const imageOffset = b * inHeight * rowStride;
    for (let oy = 0; oy < outHeight; oy++) { const rowOffset = imageOffset + 2 * oy * rowStride;
      for (let ox = 0; ox < outWidth; ox++) { const pixel = rowOffset + 2 * ox * channels;
        for (let c = 0; c < channels; c++) {
          const i0 = pixel + c, i1 = i0 + channels, i2 = i0 + rowStride, i3 = i2 + channels;
          const x0 = xs[i0], x1 = xs[i1], x2 = xs[i2], x3 = xs[i3];
          dxs[i0] = 0; dxs[i1] = 0; dxs[i2] = 0; dxs[i3] = 0;
          let w = i0, m = x0;
          if (x1 > m) { m = x1; w = i1; }
          if (x2 > m) { m = x2; w = i2; }
          if (x3 > m) { m = x3; w = i3; }
          dxs[w] = dys[dyOffset + c];
        }
        dyOffset += channels; } } }
}
for (let k = 0; k < 6; k++) {
  const r = [];
  for (const f of [V1, V2, V3, V4]) { const c = process.cpuUsage(); f(px, pdy, pdx, info); r.push((process.cpuUsage(c).user/1000).toFixed(1)); }
  console.log(r.join(' '));
}
