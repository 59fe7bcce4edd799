const B=128,H=13,W=13,ci=32,OH=11,OW=11,fh=3,fw=3; const P=B*OH*OW, K=fh*fw*ci;
const xs=new Float32Array(B*H*W*ci).map(Math.random); const ps=new Float32Array(P*K);
function cur(){
  for (let ky = 0; ky < fh; ky++) for (let kx = 0; kx < fw; kx++) { const lo=0, hi=OW, offset=kx;
    for (let c = 0; c < ci; c++) { let dst = ((ky * fw + kx) * ci + c) * P;
      for (let b = 0; b < B; b++) for (let oy = 0; oy < OH; oy++, dst += OW) { const y = oy + ky;
        const src = ((c * B + b) * H + y) * W + offset;
        for (let ox = lo; ox < hi; ox++) ps[dst + ox] = xs[src + ox]; } } }
}
function gather(){
  const plane = OH*OW; const idx = new Int32Array(plane);
  for (let ky = 0; ky < fh; ky++) for (let kx = 0; kx < fw; kx++) {
    let j=0; for (let oy=0; oy<OH; oy++) for (let ox=0; ox<OW; ox++) idx[j++] = (oy+ky)*W + ox + kx;
    for (let c = 0; c < ci; c++) { let dst = ((ky * fw + kx) * ci + c) * P;
      for (let b = 0; b < B; b++, dst += plane) { const base = (c * B + b) * H * W;
        for (let j = 0; j < plane; j++) ps[dst + j] = xs[base + idx[j]]; } } }
}
for(let k=0;k<6;k++){let c=process.cpuUsage();cur();const a=process.cpuUsage(c).user/1000;c=process.cpuUsage();gather();console.log(a.toFixed(1),(process.cpuUsage(c).user/1000).toFixed(1));}
