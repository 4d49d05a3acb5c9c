// Top-k per segment by radix select on float bits, ties broken by index (so the wasm kernel,
// the JS reference and this shader keep exactly the same tokens).
// One workgroup per segment s = [segs[3s], segs[3s] + segs[3s+1]) keeping segs[3s+2] entries:
// every pinned entry, then the largest scores among the others. keep[x] = 1 or 0.
// Four 8-bit digit passes find the threshold key T; then one ordered pass marks keys > T and the
// first `remaining` keys == T in index order (a workgroup prefix scan per chunk of 256).

@group(0) @binding(0) var<storage, read> scores: array<u32>;
@group(0) @binding(1) var<storage, read> pinned: array<u32>;
@group(0) @binding(2) var<storage, read_write> keep: array<u32>;
@group(0) @binding(3) var<storage, read> segs: array<u32>;

const WG: u32 = 256u;

var<workgroup> hist: array<atomic<u32>, 256>;
var<workgroup> red: array<u32, 256>;
var<workgroup> bcast: array<u32, 2>;
var<workgroup> total: u32;

fn orderKey(b0: u32) -> u32 {
  var b = b0;
  if (b == 0x80000000u) {
    b = 0u;
  }
  if ((b & 0x80000000u) != 0u) {
    return ~b;
  }
  return b | 0x80000000u;
}

@compute @workgroup_size(256)
fn select_topk(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) t: u32) {
  let s = wid.x;
  let start = segs[3u * s];
  let len = segs[3u * s + 1u];
  let k = segs[3u * s + 2u];
  var c = 0u;
  for (var x = t; x < len; x += WG) {
    c += select(0u, 1u, pinned[start + x] != 0u);
  }
  red[t] = c;
  workgroupBarrier();
  for (var st = WG / 2u; st > 0u; st >>= 1u) {
    if (t < st) {
      red[t] += red[t + st];
    }
    workgroupBarrier();
  }
  if (t == 0u) {
    total = red[0];
  }
  let np = workgroupUniformLoad(&total);
  let free = len - np;
  var need = 0u;
  if (k > np) {
    need = k - np;
  }
  let all = need >= free;
  var thr = 0xffffffffu;
  var remaining = 0u;
  if (!all && need > 0u) {
    var prefix = 0u;
    var mask = 0u;
    remaining = need;
    for (var it = 0u; it < 4u; it++) {
      let shift = 24u - 8u * it;
      atomicStore(&hist[t], 0u);
      workgroupBarrier();
      for (var x = t; x < len; x += WG) {
        if (pinned[start + x] == 0u) {
          let key = orderKey(scores[start + x]);
          if ((key & mask) == prefix) {
            atomicAdd(&hist[(key >> shift) & 255u], 1u);
          }
        }
      }
      workgroupBarrier();
      if (t == 0u) {
        var r = remaining;
        var b = 255u;
        loop {
          if (b == 0u) {
            break;
          }
          let cnt = atomicLoad(&hist[b]);
          if (cnt >= r) {
            break;
          }
          r -= cnt;
          b -= 1u;
        }
        bcast[0] = b;
        bcast[1] = r;
      }
      let bb = workgroupUniformLoad(&bcast);
      prefix |= bb[0] << shift;
      mask |= 255u << shift;
      remaining = bb[1];
      workgroupBarrier();
    }
    thr = prefix;
  }
  // ordered marking: ties at the threshold go to the lowest indices
  var taken = 0u;
  for (var base = 0u; base < len; base += WG) {
    let x = base + t;
    var pin = false;
    var key = 0u;
    if (x < len) {
      pin = pinned[start + x] != 0u;
      key = orderKey(scores[start + x]);
    }
    let eq = x < len && !pin && !all && key == thr;
    red[t] = select(0u, 1u, eq);
    workgroupBarrier();
    // inclusive Hillis-Steele scan of the tie flags
    for (var off = 1u; off < WG; off <<= 1u) {
      var add = 0u;
      if (t >= off) {
        add = red[t - off];
      }
      workgroupBarrier();
      red[t] += add;
      workgroupBarrier();
    }
    if (x < len) {
      let rank = taken + red[t] - select(0u, 1u, eq);
      let kp = pin || all || (need > 0u && (key > thr || (eq && rank < remaining)));
      keep[start + x] = select(0u, 1u, kp);
    }
    taken += red[WG - 1u];
    workgroupBarrier();
  }
}
