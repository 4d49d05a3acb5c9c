#!/usr/bin/env bash
# Packs what bench/device.mjs needs on a machine that has no node, no npm and no network (the GPU "device"
# machine: x86-64 Linux, python3 only) into the ignored folder .dev/:
#   .dev/node.tar.xz  this machine's node binary (bin/node),
#   .dev/nm.tar.xz    the few node_modules the device bench imports: webgpu (Dawn, linux-x64 binary only),
#                     onnxruntime-web (node entry + the plain threaded-SIMD wasm) and onnxruntime-common,
#   .dev/gl/*.deb     the Vulkan/GL loader packages (the machine may have no libvulkan.so.1).
# scripts/device-bench.sh unpacks them there. dist/ and build/ (npm run build) travel beside .dev/, so build first.
# Usage (repo root, x86-64 Linux with node_modules installed): bash scripts/device-bundle.sh [--no-gl]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
nogl=0
[[ "${1:-}" == --no-gl ]] && nogl=1

node_bin=$(command -v node)
[[ "$(uname -m)" == x86_64 ]] || { echo "device-bundle: needs an x86-64 machine (the device is x86-64), this is $(uname -m)" >&2; exit 1; }
for f in dist/node.js build/pcpress.wasm node_modules/webgpu/dist/linux-x64/dawn.node node_modules/onnxruntime-web/dist/ort.node.min.mjs; do
  [[ -e "$f" ]] || { echo "device-bundle: $f is missing (run npm ci && npm run build)" >&2; exit 1; }
done
newest_src=$(find src assembly shaders -type f -newer dist/node.js 2>/dev/null | head -3)
[[ -z "$newest_src" ]] || echo "device-bundle: WARNING: dist/ is older than $newest_src ...: run npm run build before carrying dist/" >&2

mkdir -p .dev
stage=$(mktemp -d /tmp/device-bundle.XXXXXX)
trap 'rm -rf "$stage"' EXIT

# node: the binary alone (bin/node), so the device unpacks it into /tmp/node/bin/node.
mkdir -p "$stage/node/bin"
cp "$(readlink -f "$node_bin")" "$stage/node/bin/node"
echo "device-bundle: node $("$node_bin" --version) from $node_bin"
tar -C "$stage/node" -cf - bin | xz -T2 -6 > .dev/node.tar.xz.tmp && mv .dev/node.tar.xz.tmp .dev/node.tar.xz

# node_modules subset: only what `node bench/device.mjs` imports (checked by a trial run in a clean copy).
nm="$stage/nm/node_modules"
copy() { # copy node_modules/<path> into the stage
  mkdir -p "$nm/$(dirname "$1")"
  cp -a "node_modules/$1" "$nm/$1"
}
copy webgpu/package.json; copy webgpu/index.js; copy webgpu/LICENSE.md
copy webgpu/dist/linux-x64/dawn.node
copy onnxruntime-web/package.json; copy onnxruntime-web/LICENSE 2>/dev/null || true
copy onnxruntime-web/dist/ort.node.min.mjs
copy onnxruntime-web/dist/ort-wasm-simd-threaded.mjs
copy onnxruntime-web/dist/ort-wasm-simd-threaded.wasm
copy onnxruntime-common/package.json
copy onnxruntime-common/dist/esm
tar -C "$stage/nm" -cf - node_modules | xz -T2 -6 > .dev/nm.tar.xz.tmp && mv .dev/nm.tar.xz.tmp .dev/nm.tar.xz

# Vulkan / GL loaders as amd64 debs (installed there with dpkg -x into /; see scripts/device-bench.sh).
if (( ! nogl )); then
  if ! ls .dev/gl/libvulkan1_*.deb >/dev/null 2>&1; then
    mkdir -p .dev/gl /tmp/amd64/partial
    o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
    # shellcheck disable=SC2086
    apt-get $o update -qq
    # shellcheck disable=SC2086
    (cd .dev/gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
  else
    echo "device-bundle: .dev/gl already holds the loader debs"
  fi
fi

echo
echo "device-bundle: sizes (what travels: tracked files + .dev + dist + build; limit 64 MiB)"
du -sh .dev/node.tar.xz .dev/nm.tar.xz .dev/gl 2>/dev/null || true
tracked=$(git ls-files -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)
untracked=$(git ls-files -z --others --exclude-standard | xargs -0 -r du -cb 2>/dev/null | tail -1 | cut -f1)
dev=$(du -sb .dev | cut -f1); dist=$(du -sb dist | cut -f1); build=$(du -sb build | cut -f1)
total=$(( tracked + ${untracked:-0} + dev + dist + build ))
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
printf '  tracked files      %s\n  untracked (sent)   %s\n  .dev               %s\n  dist               %s\n  build              %s\n  total              %s\n' \
  "$(mib "$tracked")" "$(mib "${untracked:-0}")" "$(mib "$dev")" "$(mib "$dist")" "$(mib "$build")" "$(mib "$total")"
if (( total > 60 * 1048576 )); then echo "device-bundle: WARNING: over 60 MiB" >&2; fi
echo "device-bundle: carry [\".dev\", \"dist\", \"build\"]; run: bash scripts/device-bench.sh \"\$OUT\""
