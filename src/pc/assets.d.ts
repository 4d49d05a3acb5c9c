// The bundled default model is imported as bytes (esbuild inlines it into its own lazily loaded chunk).
declare module '*.pcm' {
  const bytes: Uint8Array;
  export default bytes;
}
