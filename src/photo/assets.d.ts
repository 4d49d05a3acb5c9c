// Test fixtures (PNG photographs) imported as bytes by the conformance cases.
declare module '*.png' {
  const bytes: Uint8Array;
  export default bytes;
}
