// First bytes of the compressed stream formats, and the one function that tells them apart. Both codecs
// (pc/codec.ts for model-shaped images, photo/codec.ts for images of any size) take their magic bytes from
// here, so a reader can dispatch on a stream without loading any model.

/** One image, format 2, 24-bit check bound into the rANS start state. */
export const STREAM_IMAGE = 0xb4;
/** One image, format 2, 32-bit check bound into the rANS start state. */
export const STREAM_IMAGE_32 = 0xb5;
/** Many same-shape images in chunks, format 2 (header CRC, per-chunk checks, CRC-32 of all pixels). */
export const STREAM_IMAGES = 0xb6;
/** Photo (any size, tiled), format 2 (header CRC, per-tile checks, CRC-32 of all pixels). */
export const STREAM_PHOTO = 0xb7;
/** Deflate (no model: the samples in their smallest PNG form, zlib), format 2 (header CRC, CRC-32 of all pixels). */
export const STREAM_DEFLATE = 0xb8;
/**
 * Adaptive photo stream (any size, tiled), format 2 integrity: backward-adaptive context mixing of exact
 * neighbour values with the photo model's conditional, or of palette indices; read by decompressPhoto.
 */
export const STREAM_ADAPTIVE = 0xb9;
/** First bytes of format 1 (pcpress 0.1.0: one image, many images, photo). */
export const LEGACY_STREAMS = [0xb1, 0xb2, 0xb3] as const;

/** What kind of stream `bytes` holds, from its first byte (nothing is validated beyond it). */
export type StreamKind = 'image' | 'images' | 'photo' | 'deflate' | 'legacy' | 'unknown';

/**
 * Tells which decoder a stream needs: `'image'` (decompressImage, a model such as 'mnist'), `'images'`
 * (decompressImages), `'photo'` (decompressPhoto; photo 0xB7 and adaptive 0xB9 streams), `'deflate'` (decompressDeflate, no model; decompressPhoto
 * and decompressAuto read it too), `'legacy'` (format 1 of pcpress 0.1.0, refused by the
 * decoders since it carries no integrity check) or `'unknown'`.
 */
export function streamKind(bytes: Uint8Array): StreamKind {
  if (!(bytes instanceof Uint8Array) || bytes.length === 0) return 'unknown';
  const b = bytes[0];
  if (b === STREAM_IMAGE || b === STREAM_IMAGE_32) return 'image';
  if (b === STREAM_IMAGES) return 'images';
  if (b === STREAM_PHOTO || b === STREAM_ADAPTIVE) return 'photo';
  if (b === STREAM_DEFLATE) return 'deflate';
  if ((LEGACY_STREAMS as readonly number[]).includes(b)) return 'legacy';
  return 'unknown';
}
