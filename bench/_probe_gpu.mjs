import { launchChromium, serveStatic } from '../dist/browser.js';
import path from 'node:path';
const root = path.resolve('.');
const PAGE = `<!doctype html><script type="importmap">{"imports":{"@tensorflow/tfjs-core":"/node_modules/@tensorflow/tfjs-core/dist/tf-core.fesm.js"}}</script>
<script type="module">
import * as pc from '/dist/index.js';
import * as tf from '@tensorflow/tfjs-core';
import '/node_modules/@tensorflow/tfjs-backend-webgpu/dist/tf-backend-webgpu.fesm.js';
window.go = async (sizes) => {
  const out = [];
  const rt = await pc.createRuntime({backend:'webgpu'});
  out.push(rt.reason, JSON.stringify(rt.info.adapter));
  await tf.setBackend('webgpu'); out.push(tf.getBackend());
  for (const n of sizes) {
    const a = new Float32Array(n*n).map(()=>Math.random()), b = new Float32Array(n*n).map(()=>Math.random());
    const ta = rt.tensor(a,[n,n]), tb = rt.tensor(b,[n,n]);
    const xa = tf.tensor2d(a,[n,n]), xb = tf.tensor2d(b,[n,n]);
    for (const [name, f] of [['ours', async()=>{const c=rt.matmul(ta,tb,{m:n,k:n,n}); const r=await c.read(); c.dispose(); return r;}], ['tfjs', async()=>{const c=tf.matMul(xa,xb); const r=await c.data(); c.dispose(); return r;}]]) {
      let t=performance.now(); await f(); const first=performance.now()-t;
      t=performance.now(); const R=3; for (let i=0;i<R;i++) await f(); const dt=(performance.now()-t)/R;
      out.push(name+' '+n+' first '+first.toFixed(0)+'ms, '+dt.toFixed(1)+'ms '+(2*n**3/dt/1e6).toFixed(3)+' GFLOP/s');
    }
  }
  return out;
};
window.ready = true;
</script>`;
const server = await serveStatic(root, { '/p.html': PAGE });
const ch = await launchChromium();
try {
  const page = await ch.browser.newPage();
  page.on('console', m => console.log('console:', m.text()));
  page.on('pageerror', e => console.log('pageerror:', e.message));
  await page.goto(server.url + '/p.html');
  await page.waitForFunction('window.ready === true', { timeout: 60000 });
  const t = Date.now();
  console.log((await page.evaluate((s) => window.go(s), [128, 256, 512])).join('\n'), (Date.now()-t)/1000, 's');
} finally { await ch.close(); await server.close(); }
