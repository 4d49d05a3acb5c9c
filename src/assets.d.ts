declare module '*.wasm' {
  const bytes: Uint8Array;
  export default bytes;
}
declare module '*.wgsl' {
  const code: string;
  export default code;
}
