// A tiny ONNX model writer (protobuf wire format by hand) so onnxruntime-web benchmarks need no model files.
// Only what the benches use: one graph of single-op nodes, f32 tensors, optional initializers.
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

const FLOAT = 1; // TensorProto.DataType.FLOAT

function valueInfo(name, dims) {
  const shape = new Msg();
  for (const d of dims) shape.msg(1, new Msg().varint(1, d)); // dim { dim_value }
  const tensor = new Msg().varint(1, FLOAT).msg(2, shape); // elem_type, shape
  return new Msg().string(1, name).msg(2, new Msg().msg(1, tensor)); // name, type { tensor_type }
}

function initializer(name, dims, data) {
  const t = new Msg();
  for (const d of dims) t.varint(1, d); // dims
  t.varint(2, FLOAT).string(8, name); // data_type, name
  return t.bytesField(9, new Uint8Array(data.buffer, data.byteOffset, data.byteLength)); // raw_data (little-endian f32)
}

/**
 * Serializes an ONNX model (IR 8, default opset 13) with f32 graph inputs, outputs and nodes.
 * `inputs`/`outputs`: [{ name, dims }]; `initializers`: [{ name, dims, data: Float32Array }];
 * `nodes`: [{ op, inputs: string[], outputs: string[] }].
 */
export function onnxModel({ inputs, outputs, nodes, initializers = [] }) {
  const g = new Msg();
  nodes.forEach((n, i) => {
    const node = new Msg();
    for (const x of n.inputs) node.string(1, x);
    for (const y of n.outputs) node.string(2, y);
    node.string(3, `${n.op}_${i}`).string(4, n.op);
    g.msg(1, node);
  });
  g.string(2, 'bench');
  for (const t of initializers) g.msg(5, initializer(t.name, t.dims, t.data));
  for (const v of inputs) g.msg(11, valueInfo(v.name, v.dims));
  for (const v of outputs) g.msg(12, valueInfo(v.name, v.dims));
  return new Msg()
    .varint(1, 8) // ir_version
    .string(2, 'pcpress-bench') // producer_name
    .msg(7, g) // graph
    .msg(8, new Msg().string(1, '').varint(2, 13)) // opset_import { domain "", version 13 }
    .bytes();
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
