// Experiment harness for the adaptive (context-mixing) photo mode: ideal code lengths (bits per subpixel)
// of the PC model alone and of the adaptive coder (with and without the PC's conditional as a mixer input)
// on a subset of the bench's held-out files, next to WebP lossless -z 9 and pcpress's current sizes
// (bench/results/photo.md). Usage:
//   node scripts/cm-experiment.mjs [--dist=DIR] [--files=a,b,...] [--set=graphics|photos|quick] [--params=limit,lr,tb,mask,apm] [--modes=pc,cm,cmpc]
import fs from 'node:fs';
import path from 'node:path';

const arg = (k, d) => process.argv.find((a) => a.startsWith(`--${k}=`))?.slice(k.length + 3) ?? d;
const dist = path.resolve(arg('dist', 'dist'));
const pc = await import(path.join(dist, 'node.js'));

// per-file bits/subpixel from bench/results/photo.md: [pcpress, webp]
const table = fs.readFileSync(new URL('../bench/results/photo.md', import.meta.url), 'utf8').split('\n')
  .filter((l) => /^\| (photos|graphics) \|/.test(l)).map((l) => l.split('|').map((s) => s.trim()));
const ref = new Map(table.map((r) => [r[3], { set: r[1], size: r[4], pcpress: +r[6], webp: +r[9] }]));
const where = {
  SK: '/usr/lib/python3/dist-packages/skimage/data', OC: '/usr/share/doc/opencv-doc/examples/data', OCH: '/usr/share/doc/opencv-doc/opencv4/html',
  GH: '/usr/share/help/C/gnome-help/figures', MPL: '/usr/lib/python3/dist-packages/mpl_toolkits/tests/baseline_images/test_mplot3d', ADW: '/usr/share/icons/Adwaita',
};
const find = (name) => {
  for (const d of Object.values(where)) {
    const hit = [path.join(d, name)];
    if (d === where.ADW) for (const s of ['512x512/places', '512x512/devices', '96x96/status', '48x48/legacy']) hit.push(path.join(d, s, name));
    for (const f of hit) if (fs.existsSync(f)) return f;
  }
  throw new Error(`not found: ${name}`);
};
const QUICK = ['shell-top-bar.png', 'nautilus-icons.png', 'hitmiss_kernels.png', 'svm_basics3.png', 'pic1.png', 'mask.png', 'alarm-symbolic.symbolic.png',
  'accessories-calculator.png', 'applications-graphics.png', 'qtDownloadThisPackage.png', 'histogram_equalization.png', 'color-space.png', 'chelsea.png', 'color-camera.png'];
const QUICK2 = [...QUICK, 'eclipse_7_select_projects.png', 'tree_hierarchy.png', 'computer.png', 'optimal-hyperplane.png', 'shell-workspaces.png', 'surface3d.png'];
const set = arg('set', 'quick');
const files = arg('files', '') ? arg('files', '').split(',') : set === 'quick' ? QUICK : set === 'quick2' ? QUICK2 : [...ref].filter(([, r]) => r.set === set).map(([n]) => n);
const modes = arg('modes', 'pc,cm,cmpc').split(',');
const params = arg('params', '').split(',').filter(Boolean).map(Number);

const model = await pc.loadPhotoModel('photo');
const ex = model.ex;
if (params.length) ex.cmParams(...params);
const pi = pc.PREDICTORS.indexOf(model.predictor), xi = pc.TRANSFORMS.indexOf(model.transform);
const tot = Object.fromEntries(['webp', 'pcpress', ...modes].map((m) => [m, 0]));
let subs = 0;
console.log(['file', 'size', 'webp', 'pcpress', ...modes, 's'].join('\t'));
for (const name of files) {
  let img = pc.readImage(new Uint8Array(fs.readFileSync(find(name))));
  const c0 = img.channels;
  // constant alpha dropped, as the coder does
  if (c0 === 2 || c0 === 4) {
    let same = true;
    for (let i = c0 - 1; i < img.data.length && same; i += c0) same = img.data[i] === img.data[c0 - 1];
    if (same) {
      const n = img.width * img.height, d = new Uint8Array(n * (c0 - 1));
      for (let i = 0, o = 0; i < n; i++) for (let k = 0; k < c0 - 1; k++) d[o++] = img.data[i * c0 + k];
      img = { ...img, channels: c0 - 1, data: d };
    }
  }
  const c = img.channels, T = 256, nsub = img.width * img.height * c0;
  // palette form: indices of the colours sorted by (G, R, B, A) when there are at most 256
  let pal;
  {
    const cols = new Map();
    for (let i = 0; i < img.data.length && cols.size <= 256; i += c) {
      let v = 0;
      for (let k = 0; k < c; k++) v = v * 256 + img.data[i + (c >= 3 ? [1, 0, 2, 3][k] : k)];
      cols.set(v, 0);
    }
    if (cols.size <= 256) {
      const keys = [...cols.keys()].sort((a, b) => a - b);
      keys.forEach((k, i) => cols.set(k, i));
      const d = new Uint8Array(img.width * img.height);
      for (let i = 0, j = 0; i < img.data.length; i += c, j++) {
        let v = 0;
        for (let k = 0; k < c; k++) v = v * 256 + img.data[i + (c >= 3 ? [1, 0, 2, 3][k] : k)];
        d[j] = cols.get(v);
      }
      pal = { img: { width: img.width, height: img.height, channels: 1, data: d }, extra: keys.length * c * 8 };
    }
  }
  model.configure(c);
  const t0 = performance.now();
  const bits = Object.fromEntries(modes.map((m) => [m, 0]));
  for (let ty = 0; ty < img.height; ty += T) for (let tx = 0; tx < img.width; tx += T) {
    const w = Math.min(T, img.width - tx), h = Math.min(T, img.height - ty), n = w * h * c;
    const ip = ex.alloc(n) >>> 0, op = ex.alloc(64) >>> 0;
    const fill = () => {
      const t = new Uint8Array(ex.memory.buffer, ip, n);
      for (let y = 0; y < h; y++) t.set(img.data.subarray(((ty + y) * img.width + tx) * c, ((ty + y) * img.width + tx + w) * c), y * w * c);
    };
    for (const m of modes) {
      if (m === 'pal') {
        if (!pal) continue;
        const q = ex.alloc(w * h) >>> 0, t = new Uint8Array(ex.memory.buffer, q, w * h);
        for (let y = 0; y < h; y++) t.set(pal.img.data.subarray((ty + y) * img.width + tx, (ty + y) * img.width + tx + w), y * w);
        bits[m] += ex.cmBits(q, w, h, 1, 0, 0, 0);
        ex.free(q);
        continue;
      }
      fill();
      if (m === 'pc') { ex.phSymbols(ip, w, h, c, pi, xi); bits[m] += ex.phBits(op); }
      else bits[m] += ex.cmBits(ip, w, h, c, pi, xi, m === 'cmpc' ? 1 : 0);
    }
    ex.free(ip); ex.free(op);
  }
  const r = ref.get(name);
  subs += nsub;
  tot.webp += r.webp * nsub; tot.pcpress += r.pcpress * nsub;
  if (modes.includes('pal')) bits.pal = pal ? Math.min(bits.pal + pal.extra, ...modes.filter((m) => m !== 'pal').map((m) => bits[m])) : Math.min(...modes.filter((m) => m !== 'pal').map((m) => bits[m]));
  for (const m of modes) tot[m] += bits[m];
  console.log([name, r.size, r.webp.toFixed(3), r.pcpress.toFixed(3), ...modes.map((m) => (bits[m] / nsub).toFixed(3)), ((performance.now() - t0) / 1000).toFixed(1)].join('\t'));
}
console.log(['TOTAL', subs, ...['webp', 'pcpress', ...modes].map((m) => (tot[m] / subs).toFixed(4))].join('\t'));
console.log(`(bytes: ${['webp', 'pcpress', ...modes].map((m) => `${m} ${Math.round(tot[m] / 8)}`).join(', ')})`);
