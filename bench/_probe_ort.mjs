import * as ort from 'onnxruntime-web';
console.log(ort.env.versions, Object.keys(ort.env.wasm));
// tiny protobuf encoder
const enc = new TextEncoder();
function varint(n){ const out=[]; n=BigInt(n); do { let b=Number(n & 0x7fn); n >>= 7n; if (n) b|=0x80; out.push(b);} while(n); return out; }
const key=(f,w)=>varint((f<<3)|w);
const vfield=(f,v)=>[...key(f,0),...varint(v)];
const bytes=(f,b)=>[...key(f,2),...varint(b.length),...b];
const str=(f,s)=>bytes(f,[...enc.encode(s)]);
function valueInfo(name, dims){ const shape = dims.flatMap(d=>bytes(1, vfield(1,d))); const tensor=[...vfield(1,1),...bytes(2,shape)]; return [...str(1,name),...bytes(2,bytes(1,tensor))]; }
function model(m,k,n){
  const node=[...str(1,'A'),...str(1,'B'),...str(2,'C'),...str(3,'mm'),...str(4,'MatMul')];
  const graph=[...bytes(1,node),...str(2,'g'),...bytes(11,valueInfo('A',[m,k])),...bytes(11,valueInfo('B',[k,n])),...bytes(12,valueInfo('C',[m,n]))];
  return new Uint8Array([...vfield(1,8),...bytes(8,[...str(1,''),...vfield(2,13)]),...bytes(7,graph)]);
}
ort.env.wasm.numThreads = 1;
for (const n of [128,256,512,1024]) {
  const s = await ort.InferenceSession.create(model(n,n,n), { executionProviders:['wasm'], graphOptimizationLevel:'all' });
  const a = new Float32Array(n*n).map(()=>Math.random()), b = new Float32Array(n*n).map(()=>Math.random());
  const feeds = { A: new ort.Tensor('float32', a, [n,n]), B: new ort.Tensor('float32', b, [n,n]) };
  for (let i=0;i<3;i++) await s.run(feeds);
  const t=performance.now(); const R=5; let r; for (let i=0;i<R;i++){ r = await s.run(feeds); }
  const dt=(performance.now()-t)/R; console.log(n, dt.toFixed(2),'ms', (2*n**3/dt/1e6).toFixed(2),'GFLOP/s', r.C.data[0]);
  await s.release();
}
