// Demo worker: holds its own photo model (its own wasm instance) and codes the tiles it is sent.
// Tiles are independent regions, so N workers code an image about N times faster on N cores.
import { decodePhotoTile, encodePhotoTile, loadPhotoModel, type PhotoModel } from '../../src/photo/index.js';
import type { PcImage } from '../../src/pc/model.js';

type Rect = { x: number; y: number; w: number; h: number };
type Msg =
  | { type: 'encode'; id: number; img: PcImage; tiles: { index: number; rect: Rect }[] }
  | { type: 'decode'; id: number; channels: number; tiles: { index: number; rect: Rect; payload: Uint8Array }[] };

const ready: Promise<PhotoModel> = loadPhotoModel('photo');
const post = (m: unknown, transfer: Transferable[] = []) => (self as unknown as Worker).postMessage(m, transfer);

self.onmessage = async (e: MessageEvent<Msg>) => {
  const m = e.data;
  const model = await ready;
  try {
    if (m.type === 'encode') {
      const out = m.tiles.map((t) => ({ index: t.index, payload: encodePhotoTile(model, m.img, t.rect.x, t.rect.y, t.rect.w, t.rect.h) }));
      post({ id: m.id, tiles: out }, out.map((t) => t.payload.buffer));
    } else {
      const out = m.tiles.map((t) => {
        const img: PcImage = { width: t.rect.w, height: t.rect.h, channels: m.channels, data: new Uint8Array(t.rect.w * t.rect.h * m.channels) };
        const ok = decodePhotoTile(model, t.payload, img, 0, 0, t.rect.w, t.rect.h);
        return { index: t.index, ok, data: img.data };
      });
      post({ id: m.id, tiles: out }, out.map((t) => t.data.buffer));
    }
  } catch (err) {
    post({ id: m.id, error: `${(err as Error).name}: ${(err as Error).message}` });
  }
};
post({ ready: true });
