// Test fixtures of the transformer conformance cases (test/fixtures/lm), imported as bytes.
declare module '*.safetensors' {
  const bytes: Uint8Array;
  export default bytes;
}
