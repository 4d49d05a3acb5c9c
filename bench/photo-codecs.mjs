// The @jsquash/* wasm codecs (PNG + oxipng, WebP, JPEG XL) in Node. Their default loaders fetch the .wasm
// by URL, which fails in Node ("fetch failed"), so each module is compiled here from the package's file
// bytes and passed to the codec's init(). They take and return RGBA (ImageData-like) pixels.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';

const require = createRequire(import.meta.url);
const dir = (pkg) => path.dirname(require.resolve(`${pkg}/package.json`));
const compile = (pkg, file) => WebAssembly.compile(fs.readFileSync(path.join(dir(pkg), file)));

// Node has no ImageData; the decoders construct one.
if (typeof globalThis.ImageData === 'undefined') {
  globalThis.ImageData = class ImageData {
    constructor(data, width, height) {
      this.data = data;
      this.width = width;
      this.height = height;
    }
  };
}

/** RGBA copy of a 1-4 channel image (what the web codecs take). */
export function toRgba(img) {
  const n = img.width * img.height, c = img.channels, out = new Uint8ClampedArray(n * 4);
  for (let i = 0; i < n; i++) {
    const s = i * c;
    if (c >= 3) { out[4 * i] = img.data[s]; out[4 * i + 1] = img.data[s + 1]; out[4 * i + 2] = img.data[s + 2]; }
    else { out[4 * i] = out[4 * i + 1] = out[4 * i + 2] = img.data[s]; }
    out[4 * i + 3] = c === 2 || c === 4 ? img.data[s + c - 1] : 255;
  }
  return new ImageData(out, img.width, img.height);
}

/** Loads the codecs; returns { name: { encode(rgba) -> Uint8Array, decode(bytes) -> ImageData } }. */
export async function loadCodecs() {
  const webpEnc = await import('@jsquash/webp/encode.js');
  const webpDec = await import('@jsquash/webp/decode.js');
  await webpEnc.init(await compile('@jsquash/webp', 'codec/enc/webp_enc_simd.wasm'));
  await webpDec.init(await compile('@jsquash/webp', 'codec/dec/webp_dec.wasm'));
  const jxlEnc = await import('@jsquash/jxl/encode.js');
  const jxlDec = await import('@jsquash/jxl/decode.js');
  await jxlEnc.init(await compile('@jsquash/jxl', 'codec/enc/jxl_enc.wasm'));
  await jxlDec.init(await compile('@jsquash/jxl', 'codec/dec/jxl_dec.wasm'));
  const pngMod = await import('@jsquash/png/encode.js');
  const pngDec = await import('@jsquash/png/decode.js');
  await pngMod.init(await compile('@jsquash/png', 'codec/pkg/squoosh_png_bg.wasm'));
  await pngDec.init(await compile('@jsquash/png', 'codec/pkg/squoosh_png_bg.wasm'));
  const oxi = await import('@jsquash/oxipng/optimise.js');
  await oxi.init(await compile('@jsquash/oxipng', 'codec/pkg/squoosh_oxipng_bg.wasm'));
  const u8 = (b) => new Uint8Array(b);
  return {
    'PNG (oxipng -o 2)': {
      encode: async (rgba) => u8(await oxi.default(rgba, { level: 2 })),
      decode: async (bytes) => pngDec.default(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)),
    },
    'WebP lossless -z 9': {
      // cwebp -z 9 = WebPConfigLosslessPreset(9): method 6, quality 100; exact keeps RGB under alpha 0
      encode: async (rgba) => u8(await webpEnc.default(rgba, { lossless: 1, method: 6, quality: 100, exact: 1 })),
      decode: async (bytes) => webpDec.default(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)),
    },
    'JPEG XL lossless e7': {
      encode: async (rgba) => u8(await jxlEnc.default(rgba, { lossless: true, effort: 7 })),
      decode: async (bytes) => jxlDec.default(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)),
    },
  };
}

/**
 * Decodes JPEG XL bytes with the native djxl (Debian: apt-get install libjxl-tools) and returns the pixels as
 * RGBA, or undefined when djxl is missing or fails. The @jsquash/jxl 1.3.0 decoder is off by one on a few dark
 * pixels of some RGBA files whose stream djxl decodes exactly, so a failed wasm round trip is checked again here.
 * readImage is pcpress's PNG reader.
 */
export function djxlRgba(bytes, readImage) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pcpress-djxl-'));
  try {
    fs.writeFileSync(path.join(dir, 'in.jxl'), bytes);
    execFileSync('djxl', [path.join(dir, 'in.jxl'), path.join(dir, 'out.png')], { stdio: 'ignore' });
    return toRgba(readImage(new Uint8Array(fs.readFileSync(path.join(dir, 'out.png')))));
  } catch {
    return undefined;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
