#!/usr/bin/env bash
# On the GPU machine (or here, as a rehearsal on lavapipe): unpacks .device/ (see pack.sh), then runs
# the bench harness (`<scenario> --backend webgpu [--quick]`) for each scenario named, and copies the results and
# a log to $OUT (default .device/out). Usage: bash bench/device/run.sh [--quick] scenario...
set -uo pipefail
cd "$(dirname "$0")/../.."
dev=$(pwd)/.device
out=${OUT:-$dev/out}
mkdir -p "$out" /tmp/olympian-bin
quick=()
if [ "${1:-}" = "--quick" ]; then quick=(--quick); shift; fi

xz -dc "$dev/node.xz" > /tmp/olympian-bin/node && chmod +x /tmp/olympian-bin/node
dawn="$dev/app/node_modules/webgpu/dist/linux-x64/dawn.node"
[ -f "$dawn" ] || xz -dc "$dawn.xz" > "$dawn"
# The Vulkan loader and what dawn.node links: install where missing (the GPU machine has only the driver).
if ! ldconfig -p | grep -q 'libvulkan.so.1 '; then
  for deb in "$dev"/debs/*.deb; do dpkg -x "$deb" /; done
  ldconfig
fi
nvidia_icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
[ -f "$nvidia_icd" ] && export VK_DRIVER_FILES=$nvidia_icd
export OLYMPIAN_COMMIT=$(cat "$dev/commit" 2>/dev/null || echo unknown)
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv > "$out/gpu.txt" 2>&1 || true

status=0
for scenario in "$@"; do
  echo "== $scenario $(date -u +%T)" | tee -a "$out/log.txt"
  timeout 540 /tmp/olympian-bin/node "$dev/app/bench/cli.js" "$scenario" --backend webgpu "${quick[@]}" >> "$out/log.txt" 2>&1 || { status=$?; echo "!! $scenario exited $status" | tee -a "$out/log.txt"; }
  # After every scenario: a call cut off at its time limit still brings back what finished.
  mkdir -p "$out/results" && cp -r "$dev/bench/results/." "$out/results/" 2>/dev/null || true
done
exit $status
