const B=128,H=26,W=26,C=32,OH=13,OW=13;
const xs=new Float32Array(B*H*W*C).map(()=>Math.max(Math.random()-0.5,0));
const dys=new Float32Array(B*OH*OW*C).map(()=>Math.random());
const dxs=new Float32Array(xs.length);
function runT(xs,dys,dxs){
  const rowStride=W*C; let dyOffset=0;
  for(let b=0;b<B;b++){const img=b*H*rowStride;
    for(let oy=0;oy<OH;oy++){const r0=img+oy*2*rowStride;
      for(let ox=0;ox<OW;ox++){const p=r0+ox*2*C;
        for(let c=0;c<C;c++){
          const i0=p+c,i1=i0+C,i2=i0+rowStride,i3=i2+C;
          const a=xs[i0],bb=xs[i1],cc=xs[i2],d=xs[i3];
          const m=Math.max(Math.max(a,bb),Math.max(cc,d));
          const g=dys[dyOffset+c];
          const s0 = a===m; const s1 = !s0 && bb===m; const s2 = !s0 && !s1 && cc===m; 
          dxs[i0]=s0?g:0; dxs[i1]=s1?g:0; dxs[i2]=s2?g:0; dxs[i3]=(!s0&&!s1&&!s2)?g:0;
        }
        dyOffset+=C;}}}
}
function runM(xs,dys,dxs){
  const rowStride=W*C; let dyOffset=0;
  for(let b=0;b<B;b++){const img=b*H*rowStride;
    for(let oy=0;oy<OH;oy++){const r0=img+oy*2*rowStride;
      for(let ox=0;ox<OW;ox++){const p=r0+ox*2*C;
        for(let c=0;c<C;c++){
          const i0=p+c,i1=i0+C,i2=i0+rowStride,i3=i2+C;
          const a=xs[i0],bb=xs[i1],cc=xs[i2],d=xs[i3];
          const g=dys[dyOffset+c];
          // first-max one-hot via arithmetic on booleans
          const t0 = +(a>=bb) * +(a>=cc) * +(a>=d);
          const t1 = (1-t0) * +(bb>=cc) * +(bb>=d);
          const t2 = (1-t0-t1) * +(cc>=d);
          dxs[i0]=g*t0; dxs[i1]=g*t1; dxs[i2]=g*t2; dxs[i3]=g*(1-t0-t1-t2);
        }
        dyOffset+=C;}}}
}
for(let k=0;k<6;k++){let t=performance.now();runT(xs,dys,dxs);const a=performance.now()-t;t=performance.now();runM(xs,dys,dxs);console.log(a.toFixed(2),(performance.now()-t).toFixed(2));}
