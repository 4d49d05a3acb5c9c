// LEB128-style unsigned varints for stream headers (sizes and counts up to 2^35), with typed errors on
// truncated or malformed input. Shared by the MNIST and photo containers.
import { CorruptDataError, TruncatedDataError } from './errors.js';

/** Appends `v` (a non-negative integer) as 7-bit groups, low first. */
export function putVarint(out: number[], v: number): void {
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
}

/** Reads a varint at `pos.p` (advancing it); at most 5 bytes. `what` names the caller in errors. */
export function getVarint(bytes: Uint8Array, pos: { p: number }, what: string): number {
  let v = 0, mul = 1;
  for (let i = 0; i < 5; i++) {
    if (pos.p >= bytes.length) throw new TruncatedDataError(`${what}: stream ends inside a length field of its header`);
    const b = bytes[pos.p++];
    v += (b & 0x7f) * mul;
    if (!(b & 0x80)) return v;
    mul *= 128;
  }
  throw new CorruptDataError(`${what}: malformed length field`);
}
