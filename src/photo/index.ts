// Lossless compression of photographs of any size (gray, RGB, RGBA) with per-pixel probabilistic
// circuits over a causal neighbourhood: public API. Coding runs in wasm in every runtime (bit-exact).
export { PhotoModel, loadPhotoModel, photoModelFromBytes, photoCdfs, photoSymbols, parsePhotoModel, encodePhotoModel, PREDICTORS, TRANSFORMS } from './model.js';
export type { ContextVar, PhotoModelParts, PhotoSubModel, Predictor, ColorTransform } from './model.js';
export { compressPhoto, compressAdaptive, paletteForm, decompressPhoto, photoStreamInfo, photoIdealBits, MAX_PHOTO_BYTES, PHOTO_STREAM } from './codec.js';
export { planPhotoTiles, photoTileSeeds, encodePhotoTile, finishPhotoStream, photoCanvas, decodePhotoTile, finishPhoto, tileRects, checkStreamModel } from './codec.js';
export type { PhotoStreamInfo, PhotoCompressOptions, PhotoPlan, PhotoTileMode, AdaptiveCompressOptions } from './codec.js';
export { trainPhotoModel, createRandomPhotoModel, defaultContext, rerootAtZero } from './train.js';
export type { PhotoTrainOptions } from './train.js';
export { compressPhotoParallel, decompressPhotoParallel, PhotoWorkerError, PhotoWorkerPool, type PhotoWorkerPoolOptions, type PhotoParallelOptions, type PhotoCompressParallelOptions, type PhotoDecompressParallelOptions } from './parallel.js';
export { compressAuto, decompressAuto, evaluatePhoto, type PhotoEvaluateResult, type AutoModel, type AutoCompressOptions, type AutoCompressed, type AutoCandidate, type AutoDecompressOptions } from './auto.js';
