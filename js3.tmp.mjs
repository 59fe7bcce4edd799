const B=128,H=26,W=26,C=32,OH=13,OW=13;
const xs=new Float32Array(B*H*W*C).map(()=>Math.max(Math.random()-0.5,0));
const dys=new Float32Array(B*OH*OW*C).map(()=>Math.random());
const dxs=new Float32Array(xs.length);
function runA(xs,dys,dxs){
  dxs.fill(0);
  const rowStride=W*C; let dyOffset=0;
  for(let b=0;b<B;b++){const img=b*H*rowStride;
    for(let oy=0;oy<OH;oy++){const r0=img+oy*2*rowStride;
      for(let ox=0;ox<OW;ox++){const p=r0+ox*2*C;
        for(let c=0;c<C;c++){
          const i0=p+c,i1=i0+C,i2=i0+rowStride,i3=i2+C;
          let best=xs[i0],where=i0;
          let v=xs[i1]; if(v>best){best=v;where=i1;}
          v=xs[i2]; if(v>best){best=v;where=i2;}
          v=xs[i3]; if(v>best){best=v;where=i3;}
          dxs[where]+=dys[dyOffset+c];}
        dyOffset+=C;}}}
}
function runB(xs,dys,dxs){
  dxs.fill(0);
  const rowStride=W*C; let dyOffset=0;
  for(let b=0;b<B;b++){const img=b*H*rowStride;
    for(let oy=0;oy<OH;oy++){const yFrom=img+oy*2*rowStride,yTo=yFrom+2*rowStride;
      for(let ox=0;ox<OW;ox++){const xFrom=ox*2*C,xTo=xFrom+2*C;
        for(let c=0;c<C;c++){let best=-Infinity,where=-1;
          for(let y=yFrom;y<yTo;y+=rowStride){
            for(let i=y+xFrom+c;i<y+xTo;i+=C){const v=xs[i]; if(v>best){best=v;where=i;}}}
          if(where>=0)dxs[where]+=dys[dyOffset+c];}
        dyOffset+=C;}}}
}
for(let k=0;k<6;k++){let t=performance.now();runA(xs,dys,dxs);const a=performance.now()-t;t=performance.now();runB(xs,dys,dxs);console.log(a.toFixed(2),(performance.now()-t).toFixed(2));}
