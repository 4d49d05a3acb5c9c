// A tiny ONNX model writer (protobuf wire format by hand) so onnxruntime-web benchmarks need no model files.
// Only what the benches use: one graph of single-op nodes (optionally in another operator domain, with int
// and float attributes), typed graph inputs/outputs, f32 initializers.
// Field numbers follow onnx.proto (ModelProto, GraphProto, NodeProto, ValueInfoProto, TypeProto, TensorProto).

const utf8 = new TextEncoder();

/** Collects protobuf fields into chunks; `bytes()` concatenates them. */
class Msg {
  constructor() {
    this.parts = [];
    this.size = 0;
  }
  push(u8) {
    this.parts.push(u8);
    this.size += u8.length;
    return this;
  }
  varint(field, v) {
    return this.push(varintBytes((field << 3) | 0)).push(varintBytes(v));
  }
  bytesField(field, u8) {
    return this.push(varintBytes((field << 3) | 2)).push(varintBytes(u8.length)).push(u8);
  }
  string(field, s) {
    return this.bytesField(field, utf8.encode(s));
  }
  msg(field, m) {
    return this.bytesField(field, m.bytes());
  }
  float(field, v) {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    return this.push(varintBytes((field << 3) | 5)).push(b);
  }
  bytes() {
    const out = new Uint8Array(this.size);
    let o = 0;
    for (const p of this.parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }
}

function varintBytes(v) {
  let n = BigInt(v);
  const out = [];
  do {
    let b = Number(n & 0x7fn);
    n >>= 7n;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return Uint8Array.from(out);
}

/** TensorProto.DataType values the benches use. */
export const FLOAT = 1, INT32 = 6;

/** A typed graph value; `dims` undefined leaves the shape to ORT's inference. */
function valueInfo(name, dims, elemType = FLOAT) {
  const tensor = new Msg().varint(1, elemType); // elem_type
  if (dims) {
    const shape = new Msg();
    for (const d of dims) shape.msg(1, new Msg().varint(1, d)); // dim { dim_value }
    tensor.msg(2, shape);
  }
  return new Msg().string(1, name).msg(2, new Msg().msg(1, tensor)); // name, type { tensor_type }
}

function initializer(name, dims, data) {
  const t = new Msg();
  for (const d of dims) t.varint(1, d); // dims
  t.varint(2, FLOAT).string(8, name); // data_type, name
  return t.bytesField(9, new Uint8Array(data.buffer, data.byteOffset, data.byteLength)); // raw_data (little-endian f32)
}

/**
 * Serializes an ONNX model (IR 8).
 * `inputs`/`outputs`: [{ name, dims?, type? (default FLOAT) }]; `initializers`: [{ name, dims, data: Float32Array }];
 * `nodes`: [{ op, inputs: string[] ('' = absent optional input), outputs: string[], domain?, ints?: { name: value },
 *   floats?: { name: value } }];
 * `opsets`: { domain: version } (default { '': 13 }).
 */
export function onnxModel({ inputs, outputs, nodes, initializers = [], opsets = { '': 13 } }) {
  const g = new Msg();
  nodes.forEach((n, i) => {
    const node = new Msg();
    for (const x of n.inputs) node.string(1, x);
    for (const y of n.outputs) node.string(2, y);
    node.string(3, `${n.op}_${i}`).string(4, n.op);
    for (const [name, v] of Object.entries(n.ints ?? {})) node.msg(5, new Msg().string(1, name).varint(3, v).varint(20, 2)); // AttributeProto INT
    for (const [name, v] of Object.entries(n.floats ?? {})) node.msg(5, new Msg().string(1, name).float(2, v).varint(20, 1)); // AttributeProto FLOAT
    if (n.domain) node.string(7, n.domain);
    g.msg(1, node);
  });
  g.string(2, 'bench');
  for (const t of initializers) g.msg(5, initializer(t.name, t.dims, t.data));
  for (const v of inputs) g.msg(11, valueInfo(v.name, v.dims, v.type));
  for (const v of outputs) g.msg(12, valueInfo(v.name, v.dims, v.type));
  const model = new Msg()
    .varint(1, 8) // ir_version
    .string(2, 'pcpress-bench') // producer_name
    .msg(7, g); // graph
  for (const [domain, version] of Object.entries(opsets)) model.msg(8, new Msg().string(1, domain).varint(2, version)); // opset_import
  return model.bytes();
}

/** C[m,n] = A[m,k] x B[k,n]; with `bData` B is a constant initializer (weights), else a second graph input. */
export function matmulModel(m, k, n, bData) {
  const inputs = [{ name: 'A', dims: [m, k] }];
  const initializers = [];
  if (bData) initializers.push({ name: 'B', dims: [k, n], data: bData });
  else inputs.push({ name: 'B', dims: [k, n] });
  return onnxModel({
    inputs, initializers, outputs: [{ name: 'C', dims: [m, n] }],
    nodes: [{ op: 'MatMul', inputs: ['A', 'B'], outputs: ['C'] }],
  });
}

/**
 * Starts onnxruntime-web for the benches: wasm execution provider, `threads` threads (default 1; ORT fixes
 * the count for the process at its first session, so other counts need another process), no proxy
 * worker, errors only.
 */
export async function startOrt(threads = 1) {
  const ort = await import('onnxruntime-web');
  ort.env.wasm.numThreads = threads;
  ort.env.wasm.proxy = false;
  ort.env.logLevel = 'error';
  return ort;
}
