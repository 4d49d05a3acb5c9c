// The section ids of a WebAssembly binary in order (1 type, 2 import, ..., 8 start, 10 code, 11 data, 12 data
// count): scripts/build.mjs refuses a thread-pool module with a start function or data segments, and the threads
// test checks the built file the same way.

/** Section ids of the module `bytes` (a Uint8Array of a .wasm file), in file order. */
export function wasmSectionIds(bytes) {
  const ids = [];
  let at = 8; // magic and version
  const leb = () => {
    let v = 0, shift = 0, b;
    do {
      b = bytes[at++];
      v += (b & 0x7f) * 2 ** shift;
      shift += 7;
    } while (b & 0x80);
    return v;
  };
  while (at < bytes.length) {
    ids.push(bytes[at++]);
    const size = leb(); // read before adding: `at += leb()` would add to the old `at`
    at += size;
  }
  return ids;
}
