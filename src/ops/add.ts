// add: validate, then dispatch to the wasm or WebGPU kernel. Also holds the small driver the
// element-wise ops (add, siluMul, transpose) share: typed arrays in -> Promise, any Tensor -> Tensor.
import shader from '../../shaders/add.wgsl';
import { ArgumentError, DTypeError, LimitError, ShapeError } from '../errors.js';
import { Tensor, type BackendImpl } from '../tensor.js';
import type { WasmBackend, WasmStorage } from '../backends/wasm.js';
import type { WebGpuBackend, GpuStorage } from '../backends/webgpu.js';
import { checkKeys, describe, promised } from '../validate.js';

const OP = 'add';

/** @internal Validates an op input: a Float32Array or a Tensor of this backend; returns its length. */
export function opInputLength(be: BackendImpl, op: string, name: string, x: unknown): number {
  if (x instanceof Tensor) {
    if (x.backend !== be) throw new ArgumentError(`${op}: ${name} is a Tensor of another runtime`);
    return x.data().length;
  }
  if (x instanceof Float32Array) return x.length;
  throw new DTypeError(`${op}: ${name} must be a Float32Array or a Tensor, got ${describe(x)}`);
}

/** @internal WebGPU grid for one invocation per element: [groupsX, groupsY] of 256-invocation groups. */
export function elementGrid(be: WebGpuBackend, op: string, total: number): [number, number] {
  const max = be.device.limits.maxComputeWorkgroupsPerDimension;
  const groups = Math.max(1, Math.ceil(total / 256));
  const gx = Math.min(groups, max), gy = Math.ceil(groups / gx);
  if (gy > max) throw new LimitError(`${op}: needs ${groups} workgroups, over this device's ${max} x ${max}`);
  return [gx, gy];
}

/**
 * @internal Runs an op on inputs that are Float32Arrays or Tensors of `be`. `plan` validates (it gets
 * the inputs' lengths); `exec` runs the kernel on device tensors. With any Tensor input the result is a
 * Tensor returned synchronously (bad input throws); with only typed arrays, a Promise of a Float32Array
 * (every error rejects it).
 */
export function runOp<P>(be: BackendImpl, op: string, inputs: readonly [string, unknown][], plan: (lengths: number[]) => P,
  exec: (ts: Tensor[], p: P) => Tensor): Tensor | Promise<Float32Array> {
  const validate = (): P => {
    const lengths = inputs.map(([name, x]) => opInputLength(be, op, name, x));
    const p = plan(lengths);
    be.check();
    return p;
  };
  const run = (p: P): Tensor => {
    const temps: Tensor[] = [];
    try {
      const ts = inputs.map(([, x]) => {
        if (x instanceof Tensor) return x;
        const t = new Tensor(be, be.upload(x as Float32Array), [(x as Float32Array).length]);
        temps.push(t);
        return t;
      });
      return exec(ts, p);
    } finally {
      for (const t of temps) t.dispose();
    }
  };
  if (inputs.some(([, x]) => x instanceof Tensor)) return run(validate());
  return promised(async () => {
    const p = validate();
    const go = async () => {
      const out = run(p);
      try {
        return await out.read();
      } finally {
        out.dispose();
      }
    };
    return be.kind === 'webgpu' ? be.scoped(go) : go();
  });
}

/** Options of `rt.add(a, b, options?)`: none yet (an unknown name is an ArgumentError). */
export type AddOptions = Record<string, never>;

/** @internal Validates add's lengths: b's length must divide a's (b is repeated over a's leading dims). */
export function planAdd(aLen: number, bLen: number, options: unknown): { n: number; nb: number } {
  if (options !== undefined) {
    if (options === null || typeof options !== 'object') throw new ArgumentError(`${OP}: options must be an object, got ${describe(options)}`);
    checkKeys(OP, 'options', options, []);
  }
  if (aLen >= 2 ** 31) throw new LimitError(`${OP}: a of ${aLen} elements exceeds 2^31 - 1`);
  if (bLen === 0 ? aLen !== 0 : aLen % bLen !== 0) {
    throw new ShapeError(`${OP}: b has ${bLen} elements, expected a's length ${aLen} or a divisor of it (b is repeated over a's leading dims, as a bias [n] over rows [m][n])`);
  }
  return { n: aLen, nb: bLen };
}

interface AddExports {
  addF32(a: number, b: number, out: number, n: number, nb: number): void;
}

/** @internal Runs add on device tensors; the result has `shape`. */
export function addTensors(be: BackendImpl, a: Tensor, b: Tensor, p: { n: number; nb: number }, shape: readonly number[]): Tensor {
  be.check();
  if (be.kind === 'wasm') {
    const w = be as WasmBackend;
    const out = w.allocF32(p.n);
    if (p.n) (w.ex as unknown as AddExports).addF32((a.data() as WasmStorage).ptr, (b.data() as WasmStorage).ptr, out.ptr, p.n, p.nb);
    return new Tensor(be, out, [...shape]);
  }
  const g = be as WebGpuBackend;
  g.checkBindable(OP, 'a', p.n);
  const [gx, gy] = elementGrid(g, OP, p.n);
  const out = g.alloc(p.n);
  if (p.n) {
    const params = g.uniform([p.n, p.nb, gx, 0]);
    g.dispatch(g.pipeline('add', shader), [(a.data() as GpuStorage).buffer, (b.data() as GpuStorage).buffer, out.buffer, params], [gx, gy, 1]);
    params.destroy();
  }
  return new Tensor(be, out, [...shape]);
}

/**
 * @internal `rt.add`: y = a + b, with b's length a divisor of a's (b repeated over a's leading dims).
 * Typed arrays give a Promise of a Float32Array; any Tensor gives a Tensor of a's shape synchronously.
 */
export function addOp(be: BackendImpl, a: unknown, b: unknown, options?: unknown): Tensor | Promise<Float32Array> {
  return runOp(be, OP, [['a', a], ['b', b]], ([la, lb]) => planAdd(la, lb, options),
    ([ta, tb], p) => addTensors(be, ta, tb, p, a instanceof Tensor ? a.shape : [p.n]));
}
