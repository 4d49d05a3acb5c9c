// rANS with a 64-bit state, 32-bit renormalisation words and PREC-bit integer frequencies.
//
// Layout of a coded stream (written by ransFinish, read by ransDecInit):
//   head: the final encoder state after one last flush, 1..4 bytes little-endian, top byte non-zero;
//   then the 32-bit words in the order the decoder needs them (last written first), little-endian.
// The head length k follows from the stream length n: k = ((n - 1) & 3) + 1.
// The encoder starts at a state x0 in [2^24, 2^33) (not at L), so a stream pays about log2(x0) bits of
// start-up, and the caller chooses x0 = 2^k + (a k-bit check of the header and the pixels): the decoder
// must end at exactly that state with every byte consumed. Because x0 >= 2^PREC and every frequency is
// at least MINFREQ (so at most 2^PREC - 255 MINFREQ), each coded symbol grows the encoder state (see
// maxSymbols in src/pc/check.ts): no symbol is free, so a stream cannot be extended by decoding extra
// symbols at a fixed point, and a stream of B bytes cannot hold more than maxSymbols(B) symbols.

import { zalloc } from "./mem";

/** Bits of probability precision: every frequency table sums to exactly 1 << PREC. */
export const PREC: i32 = 24;
/** Smallest frequency any symbol gets: 16, so the largest is 2^24 - 255 * 16 and no symbol costs under 3.5e-4 bits. */
export const MINFREQ: u32 = 16;
/** Lower bound of the normalised state interval [L, 2^63). */
const L: u64 = 1 << 31;
const MASK: u64 = (1 << PREC) - 1;

/** Pushes one symbol (start, freq) onto the encoder state; renormalised words go to `words`. Returns the new word count. */
// @ts-ignore: decorator
@inline
export function ransPut(x: u64, start: u32, freq: u32, words: usize, nw: i32, out: usize): i32 {
  // out: where the new state is stored (u64)
  const xmax: u64 = ((L >> PREC) << 32) * <u64>freq;
  if (x >= xmax) {
    store<u32>(words + (<usize>nw << 2), <u32>x);
    nw++;
    x >>= 32;
  }
  const f = <u64>freq;
  store<u64>(out, ((x / f) << PREC) + (x % f) + <u64>start);
  return nw;
}

/**
 * Writes the final state and the words into `dst` (capacity `cap` bytes) in decoder order.
 * Returns the byte count, or -1 if `cap` is too small.
 */
export function ransFinish(x: u64, words: usize, nw: i32, dst: usize, cap: i32): i32 {
  if (x >= (<u64>1 << 32)) {
    store<u32>(words + (<usize>nw << 2), <u32>x);
    nw++;
    x >>= 32;
  }
  const head = <u32>x;
  let k = 1;
  if (head >= (1 << 8)) k = 2;
  if (head >= (1 << 16)) k = 3;
  if (head >= (1 << 24)) k = 4;
  const n = k + nw * 4;
  if (n > cap) return -1;
  for (let i = 0; i < k; i++) store<u8>(dst + <usize>i, <u8>(head >> (<u32>i * 8)));
  let p = dst + <usize>k;
  for (let i = nw - 1; i >= 0; i--) {
    store<u32>(p, load<u32>(words + (<usize>i << 2)));
    p += 4;
  }
  return n;
}

// Decoder state: kept in globals between ransDecInit / ransDecGet / ransDecAdvance.
let dx: u64 = 0;
let dsrc: usize = 0;
let dpos: i32 = 0;
let dlen: i32 = 0;

/** Starts decoding `len` bytes at `src`. Returns 0, or -1 if the stream is malformed (empty or non-canonical head). */
export function ransDecInit(src: usize, len: i32): i32 {
  if (len < 1) return -1;
  const k = ((len - 1) & 3) + 1;
  let head: u64 = 0;
  for (let i = 0; i < k; i++) head |= (<u64>load<u8>(src + <usize>i)) << (<u64>i * 8);
  if (k > 1 && load<u8>(src + <usize>(k - 1)) == 0) return -1;
  dx = head;
  dsrc = src;
  dpos = k;
  dlen = len;
  ransRefill();
  return 0;
}

// @ts-ignore: decorator
@inline
function ransRefill(): void {
  if (dx < L && dpos < dlen) {
    dx = (dx << 32) | <u64>load<u32>(dsrc + <usize>dpos);
    dpos += 4;
  }
}

/** The current slot (state mod 2^PREC): the symbol is the one whose [start, start+freq) holds it. */
// @ts-ignore: decorator
@inline
export function ransDecSlot(): u32 {
  return <u32>(dx & MASK);
}

/** Pops the symbol (start, freq) that holds the current slot. */
// @ts-ignore: decorator
@inline
export function ransDecAdvance(start: u32, freq: u32): void {
  const slot = dx & MASK;
  dx = <u64>freq * (dx >> PREC) + slot - <u64>start;
  ransRefill();
}

/**
 * True when the stream is exhausted and the state fell below xmin (the smallest start state the caller
 * allows): a valid stream never gets there (the encoder's state only grows from x0 >= xmin), so the data
 * is corrupt; stop early.
 */
// @ts-ignore: decorator
@inline
export function ransDecDead(xmin: u64): bool {
  return dpos == dlen && dx < xmin;
}

/** True when every byte was consumed; the caller then compares ransDecState() with the start state it expects. */
export function ransDecConsumed(): bool {
  return dpos == dlen;
}

/** The decoder's state: after the last symbol of a valid stream, the encoder's start state x0. */
export function ransDecState(): u64 {
  return dx;
}

// A symbol queue for encoders: a codec computes each symbol's (start, freq) in coding order with
// ransQueue, then ransQueueEncode pushes them in reverse (rANS is last-in first-out). The buffers are
// reused across calls and hold nothing between them.
let qStarts: usize = 0; // u32[qCap]
let qFreqs: usize = 0;  // u32[qCap]
let qWords: usize = 0;  // u32[qCap + 4]
let qCap: i32 = 0;
let qState: usize = 0;  // u64

/** Makes room for `symbols` queued symbols. */
export function ransQueueReserve(symbols: i32): void {
  if (qState == 0) qState = zalloc(8);
  if (symbols <= qCap) return;
  if (qCap > 0) { heap.free(qStarts); heap.free(qFreqs); heap.free(qWords); }
  qCap = symbols;
  qStarts = zalloc(<usize>symbols << 2);
  qFreqs = zalloc(<usize>symbols << 2);
  qWords = zalloc(<usize>(symbols + 4) << 2);
}

/** Queues symbol i (0-based, in coding order). */
// @ts-ignore: decorator
@inline
export function ransQueue(i: i32, start: u32, freq: u32): void {
  store<u32>(qStarts + (<usize>i << 2), start);
  store<u32>(qFreqs + (<usize>i << 2), freq);
}

/** Encodes queued symbols 0..n-1 from start state x0 into dst (capacity cap). Returns the byte count, or -1 if cap is too small. */
export function ransQueueEncode(n: i32, x0: u64, dst: usize, cap: i32): i32 {
  let nw = 0;
  store<u64>(qState, x0);
  for (let j = n - 1; j >= 0; j--) {
    nw = ransPut(load<u64>(qState), load<u32>(qStarts + (<usize>j << 2)), load<u32>(qFreqs + (<usize>j << 2)), qWords, nw, qState);
  }
  return ransFinish(load<u64>(qState), qWords, nw, dst, cap);
}
