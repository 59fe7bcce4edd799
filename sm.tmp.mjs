const rows = 86528, width = 32; const xs = new Float32Array(rows*width).map(Math.random);
function A(){const acc=new Float64Array(width);for(let r=0;r<rows;r++){const o=r*width;for(let c=0;c<width;c++)acc[c]+=xs[o+c];}return acc;}
function B(){const acc=new Float32Array(width);for(let r=0;r<rows;r++){const o=r*width;for(let c=0;c<width;c++)acc[c]+=xs[o+c];}return acc;}
function C(){const acc=new Float64Array(width);for(let c=0;c<width;c++){let s=0;for(let i=c;i<xs.length;i+=width)s+=xs[i];acc[c]=s;}return acc;}
function D(){const acc=new Float64Array(width);const n=xs.length;let i=0;for(let r=0;r<rows;r++){for(let c=0;c<width;c+=4){acc[c]+=xs[i];acc[c+1]+=xs[i+1];acc[c+2]+=xs[i+2];acc[c+3]+=xs[i+3];i+=4;}}return acc;}
for(let k=0;k<6;k++){const r=[];for(const f of [A,B,C,D]){const c=process.cpuUsage();f();r.push((process.cpuUsage(c).user/1000).toFixed(1));}console.log(r.join(' '));}
