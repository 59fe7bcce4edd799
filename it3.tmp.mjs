const B=128,H=13,W=13,ci=32,OH=11,OW=11,fh=3,fw=3; const P=B*OH*OW, K=fh*fw*ci;
const xs=new Float32Array(B*H*W*ci).map(Math.random); const ps=new Float32Array(P*K); const planes=new Float32Array(xs.length).map(Math.random);
function cur(){
  for (let ky = 0; ky < fh; ky++) for (let kx = 0; kx < fw; kx++) { const lo=0, hi=OW, offset=kx;
    for (let c = 0; c < ci; c++) { let dst = ((ky * fw + kx) * ci + c) * P;
      for (let b = 0; b < B; b++) for (let oy = 0; oy < OH; oy++, dst += OW) { const y = oy + ky;
        const src = ((c * B + b) * H + y) * W + offset;
        for (let ox = lo; ox < hi; ox++) ps[dst + ox] = planes[src + ox]; } } }
}
function nhwc(){
  for (let b = 0; b < B; b++) for (let oy = 0; oy < OH; oy++) { const p0 = (b*OH + oy)*OW;
    for (let ky = 0; ky < fh; ky++) for (let kx = 0; kx < fw; kx++) {
      const src = ((b*H + oy + ky)*W + kx)*ci; let row = ((ky*fw + kx)*ci)*P + p0;
      for (let c = 0; c < ci; c++, row += P) { for (let ox = 0, s = src + c; ox < OW; ox++, s += ci) ps[row + ox] = xs[s]; } } }
}
function nhwc2(){ // ox outer, c inner: contiguous reads, writes to 32 rows
  for (let b = 0; b < B; b++) for (let oy = 0; oy < OH; oy++) { const p0 = (b*OH + oy)*OW;
    for (let ky = 0; ky < fh; ky++) for (let kx = 0; kx < fw; kx++) {
      const src = ((b*H + oy + ky)*W + kx)*ci; const row = ((ky*fw + kx)*ci)*P + p0;
      for (let ox = 0; ox < OW; ox++) { const s = src + ox*ci; let d = row + ox; for (let c = 0; c < ci; c++, d += P) ps[d] = xs[s + c]; } } }
}
for(let k=0;k<8;k++){const r=[];for(const f of [cur,nhwc,nhwc2]){const c=process.cpuUsage();f();r.push((process.cpuUsage(c).user/1000).toFixed(1));}console.log(r.join(' '));}
