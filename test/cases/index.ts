// Every conformance case, in one list. Add an op's cases here when the op lands.
import { matmulCases } from './matmul.js';
import { attentionCases } from './attention.js';
import { ropeCases } from './rope.js';
import { rmsNormCases } from './rms_norm.js';
import { addCases } from './add.js';
import { siluMulCases } from './silu_mul.js';
import { transposeCases } from './transpose.js';
import { lmCases } from './lm.js';
import { kvCases } from './kv.js';
import { pcCases } from './pc.js';
import { photoCases } from './photo.js';
import { pcTrainCases } from './pc-train.js';
import type { Case } from './util.js';

export type { Case, CaseContext, Pkg } from './util.js';
export { Rng, CheckFailed, CaseSkipped, relErr } from './util.js';
export { matmulRef } from './matmul.js';

/** All cases, grouped by op in the order they run. */
export const cases: Case[] = [...matmulCases, ...attentionCases, ...ropeCases, ...rmsNormCases, ...addCases, ...siluMulCases, ...transposeCases, ...kvCases, ...lmCases, ...pcCases, ...pcTrainCases, ...photoCases];
