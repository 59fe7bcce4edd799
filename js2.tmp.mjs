const xs=new Float32Array(128*26*26*32).map(()=>Math.random());
function sum(){let s=0;for(let i=0;i<xs.length;i++)s+=xs[i];return s;}
for(let k=0;k<5;k++){const t=performance.now();sum();console.log('sum',(performance.now()-t).toFixed(2));}
