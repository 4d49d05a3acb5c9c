#!/usr/bin/env bash
# Runs bench/device.mjs on the GPU "device" machine (x86-64, no node, no npm, no network), from the repo root:
#   bash scripts/device-bench.sh "$OUT" [extra bench/device.mjs flags, e.g. --quick]
# with .dev (scripts/device-bundle.sh), dist and build (npm run build) carried beside the tracked files.
# It unpacks node into /tmp/node/bin and the node_modules subset into ./node_modules (only where there is none),
# installs the Vulkan/GL loader debs where the loaders are missing, points the loader at NVIDIA's ICD when none is
# registered, prints the machine facts, runs the bench under a hard timeout and, with time left, a torch
# reference (cuBLAS fp32 matmul, SDPA). Everything is logged to $OUT/device-bench.log; results land in
# $OUT/device-bench.json and .md (and $OUT/torch-ref.json). Environment: DEVICE_BENCH_TOTAL (seconds for
# everything after unpacking, default 150), DEVICE_BENCH_FORCE_GL=1 (install the debs even where loaders exist),
# DEVICE_BENCH_NO_TORCH=1. It sets no Vulkan driver itself unless none is registered (VK_DRIVER_FILES /
# VK_ICD_FILENAMES already set are left alone).
out=${1:?usage: bash scripts/device-bench.sh OUT_DIR [bench/device.mjs flags]}
shift
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$(dirname "$0")/.." || exit 1

main() {
  local t0 total node=/tmp/node/bin/node
  # no xz there: python3's tarfile unpacks .tar.xz too
  local untar='import sys, tarfile; t = tarfile.open(sys.argv[1]); t.extractall(sys.argv[2], **({"filter": "tar"} if hasattr(tarfile, "tar_filter") else {}))'
  t0=$(date +%s)
  total=${DEVICE_BENCH_TOTAL:-150}
  echo "== device-bench $(date -u +%FT%TZ) in $PWD, out $out, args: $*"

  # node
  if [[ ! -x $node ]]; then
    mkdir -p /tmp/node
    if command -v xz >/dev/null; then tar -xJf .dev/node.tar.xz -C /tmp/node
    else python3 -c "$untar" .dev/node.tar.xz /tmp/node
    fi
  fi
  export PATH=/tmp/node/bin:$PATH
  "$node" --version || { echo "device-bench: no usable node at $node"; return 1; }

  # node_modules subset (webgpu, onnxruntime-web, onnxruntime-common)
  if [[ -d node_modules ]]; then
    echo "device-bench: ./node_modules exists, not unpacking .dev/nm.tar.xz"
  elif command -v xz >/dev/null; then tar -xJf .dev/nm.tar.xz
  else python3 -c "$untar" .dev/nm.tar.xz .
  fi

  # Vulkan / GL loaders
  local missing=() libs
  libs=$(ldconfig -p)
  for lib in libvulkan.so.1 libGLdispatch.so.0 libEGL.so.1 libGLX.so.0; do
    grep -qF "$lib" <<<"$libs" || missing+=("$lib")
  done
  if (( ${#missing[@]} )) || [[ ${DEVICE_BENCH_FORCE_GL:-} == 1 ]]; then
    echo "device-bench: installing .dev/gl/*.deb (missing: ${missing[*]:-none, forced})"
    for f in .dev/gl/*.deb; do dpkg -x "$f" / || echo "device-bench: dpkg -x $f failed"; done
    ldconfig
  else
    echo "device-bench: Vulkan/GL loaders present, .dev/gl not installed"
  fi
  libs=$(ldconfig -p)
  if ! grep -q 'libGLX_nvidia.so.0\|libnvidia-glcore' <<<"$libs"; then
    for d in /usr/local/nvidia/lib64 /usr/local/nvidia/lib; do
      [[ -d $d ]] && export LD_LIBRARY_PATH=$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    done
  fi
  if [[ -z ${VK_DRIVER_FILES:-}${VK_ICD_FILENAMES:-} ]]; then
    local registered
    registered=$(ls /usr/share/vulkan/icd.d /etc/vulkan/icd.d /usr/local/share/vulkan/icd.d 2>/dev/null | grep -i nvidia)
    if [[ -z $registered ]]; then
      local icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
      [[ -f $icd ]] || icd=$(find /usr/local/nvidia /usr/share /etc -maxdepth 5 -name 'nvidia_icd*.json' 2>/dev/null | head -1)
      if [[ -n $icd && -f $icd ]]; then
        export VK_DRIVER_FILES=$icd
        echo "device-bench: no NVIDIA Vulkan ICD registered; VK_DRIVER_FILES=$icd"
      else
        echo "device-bench: WARNING: found no nvidia_icd.json anywhere"
      fi
      local egl=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
      [[ -f $egl ]] && export __EGL_VENDOR_LIBRARY_FILENAMES=$egl
    else
      echo "device-bench: registered Vulkan ICDs: $registered"
    fi
  fi

  echo "== machine"
  echo "nproc: $(nproc)"
  uname -a
  grep -m1 PRETTY_NAME /etc/os-release 2>/dev/null
  nvidia-smi -L 2>&1 || echo "nvidia-smi failed"
  echo "ldconfig -p | grep -i vulkan:"
  ldconfig -p | grep -i vulkan
  echo "nvidia GL/Vulkan libs: $(ldconfig -p | grep -o 'lib\(GLX_nvidia\|EGL_nvidia\|nvidia-glcore\|nvidia-gpucomp\)[^ ]*' | sort -u | tr '\n' ' ')"
  for f in ${VK_DRIVER_FILES:-} ${VK_ICD_FILENAMES:-} /usr/share/vulkan/icd.d/*.json /etc/vulkan/icd.d/*.json; do
    [[ -f $f ]] && echo "ICD $f: $(tr -d '\n ' < "$f" | head -c 300)"
  done
  env | grep -E '^(VK_|__EGL|__GLX|LD_LIBRARY_PATH)' | sort

  # the bench, bounded
  local left=$(( total - ($(date +%s) - t0) ))
  (( left < 30 )) && left=30
  echo "== node bench/device.mjs (timeout ${left} s)"
  timeout -k 5 "$left" "$node" bench/device.mjs --out "$out/device-bench.json" "$@"
  echo "== bench exit $? after $(( $(date +%s) - t0 )) s"

  # torch reference: what cuBLAS fp32 / SDPA reach on this GPU (no pcpress involved)
  left=$(( total - ($(date +%s) - t0) ))
  if [[ ${DEVICE_BENCH_NO_TORCH:-} != 1 ]] && (( left >= 15 )) && command -v python3 >/dev/null; then
    echo "== torch reference (timeout ${left} s)"
    timeout -k 3 "$left" python3 - "$out/torch-ref.json" <<'PY'
import json, sys, time
res = {}
def save():
    json.dump(res, open(sys.argv[1], 'w'), indent=1)
try:
    import torch
    res['torch'] = torch.__version__
    if not torch.cuda.is_available():
        res['error'] = 'no CUDA'
    else:
        dev = 'cuda'
        res['gpu'] = torch.cuda.get_device_name(0)
        def bench(fn, reps=10):
            fn(); torch.cuda.synchronize()
            s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            s.record()
            for _ in range(reps): fn()
            e.record(); torch.cuda.synchronize()
            return s.elapsed_time(e) / reps
        for tf32 in (False, True):
            torch.backends.cuda.matmul.allow_tf32 = tf32
            for n in (1024, 2048, 4096):
                a = torch.randn(n, n, device=dev); b = torch.randn(n, n, device=dev)
                ms = bench(lambda: a @ b)
                res[f'matmul_{n}_{"tf32" if tf32 else "fp32"}'] = {'ms': ms, 'gflops': 2 * n**3 / ms / 1e6}
            save()
        torch.backends.cuda.matmul.allow_tf32 = False
        a = torch.randn(8, 4096, device=dev); b = torch.randn(4096, 4096, device=dev)
        ms = bench(lambda: a @ b); res['matmul_8x4096x4096_fp32'] = {'ms': ms, 'gflops': 2 * 8 * 4096 * 4096 / ms / 1e6}
        F = torch.nn.functional
        for D in (64, 128):
            for S in (1024, 2048, 4096):
                q = torch.randn(1, 32, S, D, device=dev); k = torch.randn(1, 8, S, D, device=dev); v = torch.randn(1, 8, S, D, device=dev)
                ms = bench(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True), reps=5)
                res[f'sdpa_prefill_S{S}_D{D}_fp32'] = {'ms': ms, 'gflops': 4 * 32 * D * S * (S + 1) / 2 / ms / 1e6}
            save()
        for L in (8192, 32768):
            q = torch.randn(1, 32, 1, 128, device=dev); k = torch.randn(1, 8, L, 128, device=dev); v = torch.randn(1, 8, L, 128, device=dev)
            ms = bench(lambda: F.scaled_dot_product_attention(q, k, v, enable_gqa=True), reps=20)
            res[f'sdpa_decode_L{L}_D128_fp32'] = {'ms': ms, 'gbps': 2 * 8 * L * 128 * 4 / ms / 1e6}
except Exception as e:
    res['error'] = repr(e)
save()
for k, v in res.items(): print(k, v)
PY
    echo "== torch exit $? after $(( $(date +%s) - t0 )) s"
  fi
  ls -la "$out"
}

main "$@" 2>&1 | tee "$out/device-bench.log"
exit 0
