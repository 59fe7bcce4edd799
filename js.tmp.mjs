const B=128,H=26,W=26,C=32,OH=13,OW=13;
const xs=new Float32Array(B*H*W*C).map(()=>Math.random()-0.5).map(v=>Math.max(v,0));
const dys=new Float32Array(B*OH*OW*C).map(()=>Math.random());
const dxs=new Float32Array(xs.length);
function run(){
  dxs.fill(0);
  const rowStride=W*C; let dyOffset=0;
  for(let b=0;b<B;b++){const img=b*H*rowStride;
    for(let oy=0;oy<OH;oy++){const yFrom=oy*2,yTo=yFrom+2;
      for(let ox=0;ox<OW;ox++){const xFrom=img+ox*2*C,xTo=xFrom+2*C;
        for(let c=0;c<C;c++){let best=-Infinity,where=-1;
          for(let y=yFrom;y<yTo;y++){const row=y*rowStride+c;
            for(let i=row+xFrom;i<row+xTo;i+=C){const v=xs[i]; if(v>best){best=v;where=i;}}}
          if(where>=0)dxs[where]+=dys[dyOffset+c];}
        dyOffset+=C;}}}
}
for(let k=0;k<5;k++){const t=performance.now();run();console.log((performance.now()-t).toFixed(2));}
