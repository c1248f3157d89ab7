#!/usr/bin/env bash
# Packs .device/ (git-ignored, < 64 MiB): everything a GPU machine with NVIDIA's Vulkan driver but no Node,
# npm or network needs to run the webgpu benches — an xz of this node binary, the program bundled by esbuild
# (the CLI and each worker file it starts by path), webgpu's index.js + package.json + an xz of dawn.node,
# TF.js's wasm binaries, and the Debian packages of the Vulkan loader and the GL/X libraries dawn.node links.
# Run it here, rehearse with `bash bench/device/run.sh --quick timeline` (lavapipe), then carry `.device`.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=.device
rm -rf "$out"
mkdir -p "$out/app/bench" "$out/app/workers" "$out/app/node_modules/webgpu/dist/linux-x64" "$out/debs"

# The bundle keeps `import.meta.url` per output file, and every module the bench harness imports is inlined
# into app/bench/cli.js: the sessions find ./session.worker.js beside it, and spawnBenchWorker finds
# ../workers/*.worker.js (app/workers/); `require`, `__filename` and `__dirname` are rebuilt for the CommonJS
# parts (tfjs-backend-wasm finds its .wasm files through __dirname: they are copied beside the bundles).
bundle() {
  node_modules/.bin/esbuild "$1" --bundle --platform=node --format=esm --target=node20 --log-level=warning \
    --external:webgpu --external:@tensorflow/tfjs-node --external:@tensorflow/tfjs-node-gpu --external:@napi-rs/nice --external:piscina \
    --banner:js="import { createRequire as __cr } from 'module'; import { fileURLToPath as __fu } from 'url'; import { dirname as __dn } from 'path'; const require = __cr(import.meta.url); const __filename = __fu(import.meta.url); const __dirname = __dn(__filename);" \
    --outfile="$2"
}
bundle bench/cli.ts "$out/app/bench/cli.js"
bundle src/workers/session.worker.ts "$out/app/bench/session.worker.js"
# piscina stays a package of its own: it starts its worker.js from its own directory, and its move() marker is
# a private Symbol, so the session worker and piscina's worker must load the same copy of it.
mkdir -p "$out/app/node_modules/piscina"
cp -r node_modules/piscina/package.json node_modules/piscina/dist "$out/app/node_modules/piscina/"
for worker in bench/workers/*.worker.ts; do
  name=$(basename "$worker" .ts)
  bundle "$worker" "$out/app/workers/$name.js"
done
# tfjs-backend-wasm looks for its binaries beside the module that loads them: the bundles.
cp node_modules/@tensorflow/tfjs-backend-wasm/dist/*.wasm "$out/app/bench/"
echo '{ "type": "module" }' > "$out/app/package.json"

cp node_modules/webgpu/index.js node_modules/webgpu/package.json "$out/app/node_modules/webgpu/"
xz -T1 -6 -c node_modules/webgpu/dist/linux-x64/dawn.node > "$out/app/node_modules/webgpu/dist/linux-x64/dawn.node.xz"
xz -T1 -6 -c "$(command -v node)" > "$out/node.xz"

(cd "$out/debs" && apt-get download -qq libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2 \
  libx11-6 libxext6 libxcb1 libxau6 libxdmcp6 libbsd0 libmd0 libx11-data)
echo "$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src bench || echo -dirty)" > "$out/commit"
du -sh "$out"
