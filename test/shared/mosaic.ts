// Test images for tiled coding, shared by the Node and Deno photo tests (no runtime-specific imports).

/** An 8-bit image as the codecs take it. */
export interface Img {
  width: number;
  height: number;
  channels: number;
  data: Uint8Array;
}

/**
 * A w x h image with `channels` channels, tiled from crops of `srcs` at random offsets (`int(lo, hi)`
 * draws an integer), so a multi-tile image has photographic content everywhere.
 */
export function mosaic(srcs: Img[], w: number, h: number, channels: number, int: (lo: number, hi: number) => number): Img {
  const data = new Uint8Array(w * h * channels);
  const bw = 40 + int(0, 30), bh = 30 + int(0, 20);
  for (let by = 0; by < h; by += bh) for (let bx = 0; bx < w; bx += bw) {
    const s = srcs[int(0, srcs.length - 1)];
    const sx = int(0, s.width - 1), sy = int(0, s.height - 1);
    for (let y = by; y < Math.min(h, by + bh); y++) for (let x = bx; x < Math.min(w, bx + bw); x++) {
      const p = (((sy + y - by) % s.height) * s.width + ((sx + x - bx) % s.width)) * s.channels;
      for (let c = 0; c < channels; c++) data[(y * w + x) * channels + c] = s.data[p + Math.min(c, s.channels - 1)];
    }
  }
  return { width: w, height: h, channels, data };
}
