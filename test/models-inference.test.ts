import * as tf from '../src/device/tfjs.js';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { AdaptiveAvgPool2D } from '../src/models/adaptive-pool.js';
import { initBackend } from '../src/device/backend.js';
import { buildZooModel, countKernels, zooModels } from '../src/models/zoo.js';

const s = suite('models: zoo inference');

s.before(async () => {
  assert.is((await initBackend('wasm')).name, 'wasm');
});

// Each model at the smallest input it accepts (32 px at least): conv weights do not depend on the input,
// so this still materialises nearly every weight, but keeps activations and compute small.
for (const info of zooModels) {
  const size = Math.max(info.minInputSize, 32);
  s(`${info.name} runs one batch-2 inference at ${size}px, output [2, 1000], and frees every tensor`, async () => {
    const baseline = tf.memory().numTensors;
    const started = performance.now();
    const model = buildZooModel(info.name, { inputSize: size, seed: 3 });
    const built = performance.now();
    const x = tf.randomUniform([2, size, size, 3], 0, 1, 'float32', 5);
    const y = model.predict(x) as tf.Tensor;
    const values = await y.data();
    const ran = performance.now();
    assert.equal(y.shape, [2, 1000]);
    assert.ok(values.every(Number.isFinite), 'finite outputs');
    tf.dispose([x, y]);
    model.dispose();
    assert.is(tf.memory().numTensors, baseline);
    if (process.env.OLYMPIAN_TIMINGS) {
      console.log(
        `  ${info.name}@${size}: build ${(built - started).toFixed(0)} ms, first predict ${(ran - built).toFixed(0)} ms`,
      );
    }
  });
}

/** PyTorch's AdaptiveAvgPool2d, written out for one channel. */
function referenceAdaptive(input: number[][], size: number): number[][] {
  const n = input.length;
  const bins = Array.from({ length: size }, (_, i) => [Math.floor((i * n) / size), Math.ceil(((i + 1) * n) / size)]);
  return bins.map(([r0, r1]) =>
    bins.map(([c0, c1]) => {
      let sum = 0;
      for (let r = r0; r < r1; r++) for (let c = c0; c < c1; c++) sum += input[r][c];
      return sum / ((r1 - r0) * (c1 - c0));
    }),
  );
}

s("AdaptiveAvgPool2D matches PyTorch's overlapping, uneven bins, and replicates a 1x1 map", async () => {
  for (const n of [13, 8, 6, 1]) {
    const input = Array.from({ length: n }, (_, r) => Array.from({ length: n }, (_, c) => r * 31 + c * c));
    const layer = new AdaptiveAvgPool2D({ size: 6 });
    const x = tf.tensor4d(input.flat(), [1, n, n, 1]);
    const y = layer.apply(x) as tf.Tensor;
    const got = (await y.array()) as number[][][][];
    const want = referenceAdaptive(input, 6);
    got[0].forEach((row, r) =>
      row.forEach(([v], c) => assert.ok(Math.abs(v - want[r][c]) < 1e-3, `n=${n} [${r},${c}]`)),
    );
    tf.dispose([x, y]);
  }
});

s('countKernels counts the kernel launches of one predict and frees everything', async () => {
  const baseline = tf.memory().numTensors;
  const kernels = await countKernels('mobilenet_v2', { inputSize: 32 });
  // At least one launch per convolution (52, depthwise included) and BatchNorm (52), plus the classifier.
  assert.ok(kernels > 104, `${kernels} kernels`);
  if (process.env.OLYMPIAN_TIMINGS) console.log(`  mobilenet_v2@32: ${kernels} kernels per inference`);
  assert.is(tf.memory().numTensors, baseline);
});

s.run();
