import * as tf from '../src/device/tfjs.js';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { isOlympianError } from '../src/protocol/errors.js';
import { initBackend } from '../src/device/backend.js';
import { buildZooModel, describeZoo, parameterCount, weightCount, zooModels } from '../src/models/zoo.js';

const s = suite('models: zoo');

s.before(async () => {
  assert.is((await initBackend('wasm')).name, 'wasm');
});

const PUBLISHED: Record<string, number> = {
  resnet50: 25_636_712,
  resnet152: 60_419_944,
  vgg16: 138_357_544,
  inception_v3: 23_851_784,
  mobilenet_v2: 3_538_984,
  googlenet: 6_624_904,
  alexnet: 61_100_840,
  inception_v4: 42_679_816,
};

s("every model has its reference implementation's published parameter count at the default input", () => {
  const started = performance.now();
  assert.equal(zooModels.map((m) => m.name).sort(), Object.keys(PUBLISHED).sort());
  for (const [name, count] of Object.entries(PUBLISHED)) assert.is(parameterCount(name), count, name);
  assert.ok(performance.now() - started < 1000, 'counting must not materialise weights');
});

s('Keras models count BatchNorm moving statistics, PyTorch models do not', () => {
  assert.equal(weightCount('resnet50'), { trainable: 25_583_592, nonTrainable: 53_120 });
  assert.is(weightCount('googlenet').trainable, 6_624_904);
  assert.ok(weightCount('googlenet').nonTrainable > 0);
});

s('only classifiers fed by a flattened feature map change their count with the input size', () => {
  assert.is(parameterCount('vgg16', 32), 138_357_544 - 7 * 7 * 512 * 4096 + 512 * 4096);
  assert.is(parameterCount('alexnet', 96), 61_100_840);
  assert.is(parameterCount('inception_v3', 150), 23_851_784);
  assert.is(parameterCount('resnet152', 64), 60_419_944);
});

s('a built model holds exactly the counted weights', () => {
  const model = buildZooModel('mobilenet_v2', { inputSize: 32 });
  const { trainable, nonTrainable } = weightCount('mobilenet_v2', 32);
  assert.is(model.countParams(), trainable + nonTrainable);
  assert.equal(model.inputs[0].shape, [null, 32, 32, 3]);
  model.dispose();
});

s("an input below the architecture's minimum is an INVALID_ARGUMENT naming inputSize", () => {
  for (const [name, size] of [
    ['inception_v3', 74],
    ['alexnet', 62],
    ['vgg16', 31],
  ] as const) {
    try {
      parameterCount(name, size);
      assert.unreachable(name);
    } catch (error) {
      assert.ok(isOlympianError(error, 'INVALID_ARGUMENT'), String(error));
      assert.is((error as { field?: string }).field, 'inputSize');
    }
  }
  assert.throws(
    () => buildZooModel('inception_v4', { inputSize: 64 }),
    (e: unknown) => isOlympianError(e, 'INVALID_ARGUMENT'),
  );
});

s('an unknown model name is NOT_FOUND', () => {
  assert.throws(
    () => parameterCount('lenet'),
    (e: unknown) => isOlympianError(e, 'NOT_FOUND'),
  );
});

s('describeZoo lists every model with its count, and marks sizes a model cannot take', () => {
  const rows = describeZoo();
  assert.is(rows.length, 8);
  assert.is(rows.find((r) => r.name === 'inception_v3')?.defaultInputSize, 299);
  assert.is(rows.find((r) => r.name === 'vgg16')?.parameters, 138_357_544);
  const small = describeZoo({ inputSize: 64 });
  assert.is(small.find((r) => r.name === 'inception_v4')?.parameters, null);
  assert.match(small.find((r) => r.name === 'inception_v4')?.error ?? '', /inputSize/);
  assert.is(small.find((r) => r.name === 'resnet50')?.parameters, 25_636_712);
});

async function weightsOf(model: tf.LayersModel): Promise<Float32Array[]> {
  return Promise.all(model.getWeights().map(async (w) => (await w.data()) as Float32Array));
}

s('the same seed builds bit-identical weights and outputs; another seed does not', async () => {
  const baseline = tf.memory().numTensors;
  const [a, b, c] = [7, 7, 8].map((seed) => buildZooModel('googlenet', { inputSize: 32, seed }));
  const [wa, wb, wc] = await Promise.all([a, b, c].map(weightsOf));
  assert.is(wa.length, wb.length);
  wa.forEach((w, i) => assert.equal(w, wb[i], `weight ${i}`));
  assert.not.equal(wa[0], wc[0]);
  const x = tf.randomUniform([2, 32, 32, 3], 0, 1, 'float32', 1);
  const [ya, yb] = [a, b].map((m) => m.predict(x) as tf.Tensor);
  assert.equal(await ya.data(), await yb.data());
  tf.dispose([x, ya, yb]);
  [a, b, c].forEach((m) => m.dispose());
  assert.is(tf.memory().numTensors, baseline);
});

s.run();
