// IDX files (the MNIST distribution format): unsigned-byte image tensors.
import { ImageFormatError } from './errors.js';
import type { PcImageSet } from './train.js';

/** Reads an IDX file of unsigned bytes with 3 dimensions (count, rows, cols) into an image set. */
export function readIdx(bytes: Uint8Array): PcImageSet {
  if (!(bytes instanceof Uint8Array) || bytes.length < 16) throw new ImageFormatError('readIdx: file too short');
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes[0] !== 0 || bytes[1] !== 0 || bytes[2] !== 0x08 || bytes[3] !== 3) {
    throw new ImageFormatError('readIdx: expected an IDX file of unsigned bytes with 3 dimensions (magic 0x00000803)');
  }
  const count = dv.getUint32(4), height = dv.getUint32(8), width = dv.getUint32(12);
  const n = count * width * height;
  if (bytes.length < 16 + n) throw new ImageFormatError(`readIdx: file holds ${bytes.length - 16} of ${n} bytes`);
  return { count, width, height, channels: 1, data: bytes.subarray(16, 16 + n) };
}
