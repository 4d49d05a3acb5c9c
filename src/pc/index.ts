// Lossless image compression with probabilistic circuits (hidden Chow-Liu trees): public API.
// The codec always runs in wasm (AssemblyScript), whatever backend a runtime picked, so a stream made in
// one runtime decodes bit-exactly in every other.
export { PcModel, loadModel, createRandomModel } from './model.js';
export type { PcImage, PcStructure } from './model.js';
export { trainModel, seededRandom, chowLiuTree } from './train.js';
export type { TrainOptions, TrainProgress, PcImageSet } from './train.js';
export { expectedCounts, type ExpectedCounts } from './train-gpu.js';
export { compressImage, decompressImage, compressImages, decompressImages, evaluate } from './codec.js';
export type { EvaluateResult, CompressImageOptions } from './codec.js';
export { crc32 } from './check.js';
export { DEFAULT_LIMITS, type DecodeLimits, type ModelLimits } from './limits.js';
export { readImage, writePng, writePgm } from './image.js';
export { readIdx } from './idx.js';
export { CorruptDataError, TruncatedDataError, FormatVersionError, WrongModelError, ModelFormatError, ImageFormatError } from './errors.js';
export { streamKind, STREAM_IMAGE, STREAM_IMAGE_32, STREAM_IMAGES, STREAM_PHOTO, STREAM_DEFLATE, STREAM_ADAPTIVE, type StreamKind } from './format.js';
export { compressDeflate, decompressDeflate, deflateStreamInfo, type DeflateStreamInfo, type DeflateOptions } from './deflate.js';
export { MAX_META_BYTES, type PngMeta } from './meta.js';
