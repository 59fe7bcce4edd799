const B=128,H=13,W=13,ci=32,OH=11,OW=11,fh=3,fw=3; const P=B*OH*OW, K=fh*fw*ci;
const xs=new Float32Array(B*H*W*ci).map(Math.random); const pT=new Float32Array(P*K);
function build(){
  let p=0;
  for(let b=0;b<B;b++)for(let oy=0;oy<OH;oy++)for(let ox=0;ox<OW;ox++,p++){
    for(let ky=0;ky<fh;ky++){const src=((b*H+oy+ky)*W+ox)*ci;
      for(let kx=0;kx<fw;kx++){const s=src+kx*ci; let d=((ky*fw+kx)*ci)*P+p;
        for(let c=0;c<ci;c++,d+=P)pT[d]=xs[s+c];}}}
}
function build2(){ // block of 16 p at a time
  for(let ky=0;ky<fh;ky++)for(let kx=0;kx<fw;kx++)for(let c=0;c<ci;c++){
    const row=((ky*fw+kx)*ci+c)*P; let p=0;
    for(let b=0;b<B;b++)for(let oy=0;oy<OH;oy++){const src=((b*H+oy+ky)*W+kx)*ci+c;
      for(let ox=0;ox<OW;ox++,p++)pT[row+p]=xs[src+ox*ci];}}
}
for(let k=0;k<6;k++){let c=process.cpuUsage();build();const a=process.cpuUsage(c).user/1000;c=process.cpuUsage();build2();console.log(a.toFixed(1),(process.cpuUsage(c).user/1000).toFixed(1));}
