import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { initBackend } from '../src/device/backend.js';
import * as tf from '../src/device/tfjs.js';
import { releaseWeights } from '../src/device/wasm-weights.js';
import { ErrorCode, OlympianError } from '../src/protocol/errors.js';
import { spawnWorker } from '../src/workers/spawn.js';

/**
 * Weights released from the wasm heap once packed (src/device/wasm-weights.ts). Each test builds the same
 * seeded model twice, one released and one not, so the unreleased twin gives the expected values.
 */
const s = suite('wasm: weights released once their products are packed');

s.before(async () => {
  assert.is((await initBackend('wasm')).name, 'wasm');
});

/** A 1×1 convolution (a product through the pointwise rewrite), a 3×3 one, and two dense layers. */
function build(): tf.LayersModel {
  let seed = 10;
  const init = () => tf.initializers.glorotUniform({ seed: seed++ });
  return tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [6, 6, 64], filters: 96, kernelSize: 1, kernelInitializer: init() }),
      tf.layers.conv2d({ filters: 32, kernelSize: 3, activation: 'relu', kernelInitializer: init() }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 80, activation: 'relu', kernelInitializer: init() }),
      tf.layers.dense({ units: 60, kernelInitializer: init() }),
    ],
  });
}

const releaseAll = (model: tf.LayersModel) =>
  releaseWeights(
    tf.backend(),
    model.weights.map((w) => w.read()),
  );

async function predict(model: tf.LayersModel, x: tf.Tensor): Promise<Float32Array> {
  const y = model.predict(x) as tf.Tensor;
  const values = (await y.data()) as Float32Array;
  y.dispose();
  return values;
}

const weightNamed = (model: tf.LayersModel, pattern: RegExp) => {
  const weight = model.weights.find((w) => pattern.test(w.originalName));
  if (!weight) throw new Error(`no weight matches ${pattern}`);
  return weight.read();
};

s('outputs stay bit-identical at any batch, and what the products packed stays out of the heap', async () => {
  const tensorsBefore = tf.memory().numTensors;
  const [plain, released] = [build(), build()];
  const release = releaseAll(released);
  assert.ok(release, 'the model has weights to release');
  const x1 = tf.randomNormal([1, 6, 6, 64], 0, 1, 'float32', 1);
  const x3 = tf.randomNormal([3, 6, 6, 64], 0, 1, 'float32', 2);
  try {
    assert.equal(await predict(released, x1), await predict(plain, x1));
    release.settle();
    for (let run = 0; run < 2; run++) {
      assert.equal(await predict(released, x3), await predict(plain, x3));
      assert.equal(await predict(released, x1), await predict(plain, x1));
    }
    // The 1×1 filter (64·96) and both dense kernels (512·80, 80·60); the 3×3 filter is a convolution's.
    assert.is(release.packedMb, ((64 * 96 + 512 * 80 + 80 * 60) * 4) / 2 ** 20);
  } finally {
    tf.dispose([x1, x3]);
    plain.dispose();
    released.dispose();
  }
  assert.is(tf.memory().numTensors, tensorsBefore, 'disposing the released model frees every tensor');
});

s('a released weight read another way before the warm-up settles is put back, values intact', async () => {
  const [plain, released] = [build(), build()];
  const release = releaseAll(released);
  const x = tf.randomNormal([2, 6, 6, 64], 0, 1, 'float32', 3);
  try {
    const dense = weightNamed(released, /dense.*kernel/);
    const expected = await weightNamed(plain, /dense.*kernel/).data();
    // Read back to JS, and taken by another kernel: both see the weight's own values.
    assert.equal(await dense.data(), expected);
    const sum = tf.sum(weightNamed(released, /conv2d.*kernel/));
    const expectedSum = tf.sum(weightNamed(plain, /conv2d.*kernel/));
    assert.equal(await sum.data(), await expectedSum.data());
    tf.dispose([sum, expectedSum]);
    release?.settle();
    assert.equal(await predict(released, x), await predict(plain, x));
    // Put back for good: still readable after the warm-up settled.
    assert.equal(await dense.data(), expected);
  } finally {
    x.dispose();
    plain.dispose();
    released.dispose();
  }
});

s('once settled, a packed weight read another way is refused with INTERNAL, never garbage', async () => {
  const released = build();
  const release = releaseAll(released);
  const x = tf.randomNormal([1, 6, 6, 64], 0, 1, 'float32', 4);
  try {
    await predict(released, x);
    release?.settle();
    const kernel = weightNamed(released, /dense.*kernel/) as tf.Tensor2D;
    const refused = (attempt: () => unknown) => {
      try {
        attempt();
      } catch (error) {
        assert.instance(error, OlympianError);
        assert.is((error as OlympianError).code, ErrorCode.INTERNAL);
        assert.match((error as Error).message, /weight of shape \[\d+,\d+\]/);
        return;
      }
      assert.unreachable('the packed weight was used');
    };
    refused(() => kernel.dataSync());
    const rows = tf.ones([1, kernel.shape[0]]) as tf.Tensor2D;
    // Another activation is another operator, which would have to be packed from the weight's bytes.
    refused(() => tf.fused.matMul({ a: rows, b: kernel, activation: 'relu6' }));
    rows.dispose();
    // Its own product still runs.
    assert.is((await predict(released, x)).length, 60);
  } finally {
    x.dispose();
    released.dispose();
  }
});

s('with no room for the scratch block, every weight goes back and the model runs as it was', async () => {
  const [plain, released] = [build(), build()];
  const { wasm } = tf.backend() as unknown as { wasm: { _malloc(bytes: number): number } };
  const malloc = wasm._malloc;
  const largest = 512 * 80 * 4;
  let refused = 0;
  // The first block of the largest weight's size asked for after the copies leave is the scratch block.
  wasm._malloc = (bytes) => {
    if (bytes !== largest || refused > 0) return malloc(bytes);
    refused++;
    return 0;
  };
  const x = tf.randomNormal([2, 6, 6, 64], 0, 1, 'float32', 5);
  try {
    assert.is(releaseAll(released), null);
    assert.is(refused, 1, 'the scratch block was asked for, and refused');
    wasm._malloc = malloc;
    assert.equal(await predict(released, x), await predict(plain, x));
    assert.equal(await weightNamed(released, /dense.*kernel/).data(), await weightNamed(plain, /dense.*kernel/).data());
  } finally {
    wasm._malloc = malloc;
    x.dispose();
    plain.dispose();
    released.dispose();
  }
});

s(
  'a model disposed before settling: its released weights are gone with it, and settling finds nothing to do',
  async () => {
    const tensorsBefore = tf.memory().numTensors;
    const released = build();
    const release = releaseAll(released);
    const x = tf.randomNormal([1, 6, 6, 64], 0, 1, 'float32', 6);
    try {
      await predict(released, x);
      released.dispose();
      assert.is(release?.packedMb, 0);
      // It read each weight's record from the backend, which no longer holds them (and threw doing so).
      release?.settle();
      assert.is(tf.memory().numTensors, tensorsBefore + 1, 'only the input is left');
    } finally {
      x.dispose();
    }
  },
);

s('MobileNet-v2@64: the heap stays ≥ 20% smaller after warm-up, and outputs are the same', async () => {
  const run = async (release: boolean) => {
    const worker = spawnWorker('../test/fixtures/wasm-weights.worker.js', import.meta.url, {
      workerData: { release },
    });
    try {
      return await new Promise<{ heapMb: number; packedMb: number; outputs: number[][] }>((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
      });
    } finally {
      await worker.terminate();
    }
  };
  const plain = await run(false);
  const released = await run(true);
  assert.equal(released.outputs, plain.outputs);
  assert.ok(released.packedMb > 10, `packed ${released.packedMb} MiB`);
  assert.ok(released.heapMb < 0.8 * plain.heapMb, `heap ${released.heapMb} MiB released, ${plain.heapMb} MiB not`);
});

s.run();
