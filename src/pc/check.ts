// Integrity arithmetic shared by the stream formats (docs/compression.md, "Integrity"): CRC-32 for
// headers and pixels, the rANS start state that carries a k-bit check, and the most symbols a rANS
// payload of a given size can hold (so forged sizes are refused before any work or allocation).

const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/**
 * CRC-32 (ISO-HDLC, as in PNG, zlib and gzip) of `data`, continuing from `crc` (the CRC of the bytes
 * before it; 0 to start). crc32(b) of ASCII "123456789" is 0xcbf43926.
 */
export function crc32(data: Uint8Array, crc = 0): number {
  let c = ~crc >>> 0;
  for (let i = 0; i < data.length; i++) c = TABLE[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

/** CRC-32 of a u32 (little-endian bytes), continuing from `crc`. */
export function crc32u32(value: number, crc = 0): number {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, value >>> 0, true);
  return crc32(b, crc);
}

/**
 * The rANS start state that carries a `bits`-bit check (24 or 32): 2^bits + the top `bits` bits of the
 * CRC `check`. The decoder must end at exactly this state; any state below 2^bits is impossible.
 */
export function startState(bits: 24 | 32, check: number): bigint {
  return (1n << BigInt(bits)) + BigInt((check >>> 0) >>> (32 - bits));
}

/**
 * Most symbols a rANS payload of `bytes` bytes can hold. Every frequency is at most 2^24 - 4080 and every
 * start state at least 2^24, so each symbol grows the encoder's state by a factor of at least
 * 1 + 4080 floor(x / 2^24) / x: at least 1.75e-4 bits while x < 2^31 (at most 39,910 symbols, since the
 * state starts at >= 2^24), at least 3.48e-4 bits after; each 32-bit word written loses at most
 * 7.1e-4 bits to rounding. Hence symbols <= 39,910 + 22,990 * bytes; a stream that declares more is
 * not one our encoder wrote, and is refused before decoding.
 */
export function maxSymbols(bytes: number): number {
  return 40_000 + 23_000 * bytes;
}
