// What the attention op and the KV cache share: limits, the headDim check, the WGSL
// modules (one per element width) and the pass encoder. Both src/ops/attention.ts and
// src/kvcache.ts import this module; it imports neither, so the graph has no cycle.
import tileShader from '../../shaders/attention_tile.wgsl';
import prefillMain from '../../shaders/attention_prefill.wgsl';
import decodeMain from '../../shaders/attention_decode.wgsl';
import { ArgumentError } from '../errors.js';
import type { WebGpuBackend } from '../backends/webgpu.js';
import { checkInt } from '../validate.js';

/** Largest position, window or sink count (positions are i32 in the kernels). */
export const MAX_POSITION = 2 ** 30;

/** Largest headDim of attention and of the KV cache. */
export const MAX_HEAD_DIM = 256;

/** Validates headDim: an integer in 1..256. */
export function checkHeadDim(op: string, d: unknown): number {
  const hd = checkInt(op, 'headDim', d);
  if (hd > MAX_HEAD_DIM) {
    throw new ArgumentError(`${op}: headDim must be an integer between 1 and ${MAX_HEAD_DIM}, got ${hd}`);
  }
  return hd;
}

/**
 * WGSL that fixes the element type of the q / k / v / output buffers: `vec4<f32>` when headDim is a
 * multiple of 4 (the fast path: one load per four values), `f32` otherwise (the general path: rows
 * of any length, read into zero-padded vec4 tiles).
 */
function elementPrelude(vec4: boolean): string {
  return vec4
    ? 'alias E = vec4<f32>;\nconst EW: u32 = 4u;\nfn asE(x: vec4<f32>) -> E { return x; }\n'
    : 'alias E = f32;\nconst EW: u32 = 1u;\nfn asE(x: vec4<f32>) -> E { return x.x; }\n';
}

/** A WGSL module: the name it is cached under and its source. */
export interface ShaderModule {
  name: string;
  code: string;
}

const modules = new Map<string, ShaderModule>();

/** The prefill or decode module (decode: partial, merge and the cache's gather) for this headDim. */
export function attentionModule(kind: 'prefill' | 'decode', headDim: number): ShaderModule {
  const vec4 = headDim % 4 === 0;
  const name = `attention_${kind}${vec4 ? '' : '_any'}`;
  let m = modules.get(name);
  if (!m) {
    m = { name, code: elementPrelude(vec4) + tileShader + (kind === 'prefill' ? prefillMain : decodeMain) };
    modules.set(name, m);
  }
  return m;
}

/** Encodes one compute pass with explicit binding numbers. */
export function encodePass(be: WebGpuBackend, enc: GPUCommandEncoder, pipeline: GPUComputePipeline,
  entries: [number, GPUBuffer][], groups: [number, number, number]): void {
  const bindGroup = be.device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: entries.map(([binding, buffer]) => ({ binding, resource: { buffer } })),
  });
  const pass = enc.beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, bindGroup);
  pass.dispatchWorkgroups(groups[0], groups[1], groups[2]);
  pass.end();
}
