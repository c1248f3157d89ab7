import * as tf from '../src/device/tfjs.js';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { canExecuteLayers, executeLayers } from '../src/models/layers-executor.js';
import { buildZooModel, zooModels } from '../src/models/zoo.js';
import { initBackend } from '../src/device/backend.js';
import { createModel } from './fixtures/tiny-models.js';

const s = suite('models: layer-by-layer executor (strict mode)');

s.before(async () => {
  assert.is((await initBackend('wasm')).name, 'wasm');
});

/** Each launch as the profiler's sequences see it: the kernel's name and its inputs' shapes. */
const launches = async (run: () => Promise<tf.Tensor | tf.Tensor[]>) =>
  (await tf.profile(run)).kernels.map((k) => `${k.name}${JSON.stringify(k.inputShapes)}`);

// Branches (Inception's concats, ResNet's adds, GoogLeNet's four-way splits) are where a walk in the wrong
// order or an early disposal would show: every zoo model, at its smallest input.
for (const info of zooModels) {
  s(`${info.name}: same outputs and the same kernel launches as predictOnBatch, nothing left behind`, async () => {
    const model = buildZooModel(info.name, { inputSize: info.minInputSize });
    const x = tf.randomUniform([2, info.minInputSize, info.minInputSize, 3], 0, 1, 'float32', 7);
    try {
      const expected = model.predictOnBatch(x) as tf.Tensor;
      const before = tf.memory().numTensors;
      let pauses = 0;
      const [actual] = await executeLayers(model, [x], () => (++pauses % 3 === 0 ? Promise.resolve() : null));
      assert.is(tf.memory().numTensors, before + 1, 'only the output is left');
      assert.ok(
        pauses >= model.layers.length - 1,
        `a pause point after every layer (${pauses} for ${model.layers.length} layers)`,
      );
      assert.equal(actual.shape, expected.shape);
      const diff = tf.max(tf.abs(tf.sub(actual, expected))).dataSync()[0];
      assert.ok(diff <= 1e-5, `max |difference| ${diff}`);
      tf.dispose([actual, expected]);
      const viaBatch = await launches(async () => model.predictOnBatch(x) as tf.Tensor);
      const viaLayers = await launches(() => executeLayers(model, [x], () => null));
      // The profiler records predictOnBatch; strict sessions must launch the same sequence to use its plans.
      assert.equal(viaLayers, viaBatch);
    } finally {
      x.dispose();
      model.dispose();
    }
  });
}

s('a layer that throws half-way leaves no intermediate tensor behind and the inputs intact', async () => {
  class Boom extends tf.layers.Layer {
    static className = 'Boom';
    override call(): tf.Tensor {
      throw new Error('boom');
    }
  }
  const input = tf.input({ shape: [4] });
  const hidden = tf.layers.dense({ units: 8 }).apply(input) as tf.SymbolicTensor;
  const output = tf.layers
    .dense({ units: 2 })
    .apply(new Boom({}).apply(hidden) as tf.SymbolicTensor) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: output });
  const x = tf.ones([1, 4]);
  const before = tf.memory().numTensors;
  try {
    await executeLayers(model, [x], () => Promise.resolve()).then(
      () => assert.unreachable('should throw'),
      (error: Error) => assert.is(error.message, 'boom'),
    );
    assert.is(tf.memory().numTensors, before);
    assert.not.ok(x.isDisposed);
  } finally {
    x.dispose();
    model.dispose();
  }
});

s('an output that is also an input comes back as a copy; Sequential models walk too', async () => {
  const input = tf.input({ shape: [3] });
  const dense = tf.layers.dense({ units: 2, kernelInitializer: 'ones' }).apply(input) as tf.SymbolicTensor;
  const both = tf.model({ inputs: input, outputs: [input, dense] });
  const x = tf.tensor([[1, 2, 3]]);
  const [echo, y] = await executeLayers(both, [x], () => null);
  assert.ok(echo !== x);
  assert.equal(Array.from(echo.dataSync()), [1, 2, 3]);
  assert.equal(Array.from(y.dataSync()), [6, 6]);
  tf.dispose([echo, y]);

  const sequential = tf.sequential({
    layers: [tf.layers.dense({ units: 4, inputShape: [3] }), tf.layers.dense({ units: 2 })],
  });
  assert.ok(canExecuteLayers(sequential));
  const expected = sequential.predictOnBatch(x) as tf.Tensor;
  const [actual] = await executeLayers(sequential, [x], () => null);
  assert.equal(Array.from(actual.dataSync()), Array.from(expected.dataSync()));
  tf.dispose([x, actual, expected]);
  both.dispose();
  sequential.dispose();
});

s(
  "two inputs and two outputs, a layer used twice: the same as predictOnBatch, in the model's input order",
  async () => {
    const a = tf.input({ shape: [3], name: 'a' });
    const b = tf.input({ shape: [2], name: 'b' });
    const shared = tf.layers.dense({
      units: 4,
      kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }),
      name: 'shared',
    });
    const joined = tf.layers
      .concatenate()
      .apply([a, tf.layers.dense({ units: 3, name: 'lift' }).apply(b) as tf.SymbolicTensor]) as tf.SymbolicTensor;
    const left = shared.apply(
      tf.layers.dense({ units: 3, name: 'mix' }).apply(joined) as tf.SymbolicTensor,
    ) as tf.SymbolicTensor;
    const right = shared.apply(a) as tf.SymbolicTensor;
    const model = tf.model({
      inputs: [a, b],
      outputs: [left, tf.layers.add().apply([right, left]) as tf.SymbolicTensor],
    });
    const xa = tf.tensor2d([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    const xb = tf.tensor2d([
      [0.5, -1],
      [2, 0],
    ]);
    try {
      const expected = model.predictOnBatch([xa, xb]) as tf.Tensor[];
      const before = tf.memory().numTensors;
      const actual = await executeLayers(model, [xa, xb], () => Promise.resolve());
      assert.is(tf.memory().numTensors, before + 2);
      actual.forEach((t, i) => assert.equal(Array.from(t.dataSync()), Array.from(expected[i].dataSync())));
      tf.dispose([...expected, ...actual]);
    } finally {
      tf.dispose([xa, xb]);
      model.dispose();
    }
  },
);

s('a model whose layers start a mask runs in one piece (the walk carries no masks)', () => {
  const masked = tf.sequential({
    layers: [tf.layers.embedding({ inputDim: 10, outputDim: 4, inputLength: 3, maskZero: true }), tf.layers.flatten()],
  });
  assert.not.ok(canExecuteLayers(masked));
  const plain = createModel(tf, {});
  assert.ok(canExecuteLayers(plain));
  masked.dispose();
  plain.dispose();
});

s.run();
