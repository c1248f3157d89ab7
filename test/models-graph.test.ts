import { fileURLToPath } from 'node:url';
import * as tf from '../src/device/tfjs.js';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { isOlympianError } from '../src/protocol/errors.js';
import { initBackend } from '../src/device/backend.js';
import { loadModel } from '../src/models/loader.js';
import { QUANTIZED } from './fixtures/models/generate.js';

const s = suite('models: graph models');
const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/models/${name}`, import.meta.url));

s.before(async () => {
  assert.is((await initBackend('wasm')).name, 'wasm');
});

s('uint8, uint16 and float16 weights load dequantized, as TF.js decodes them', async () => {
  const baseline = tf.memory().numTensors;
  const model = await loadModel(fixture('graph-quantized'));
  assert.is(model.kind, 'graph');
  assert.equal(model.signature.inputs, [{ name: 'x', dtype: 'float32', shape: [null, 4] }]);
  const weights = (model.model as tf.GraphModel).weights;
  const { w, b, s: scale } = QUANTIZED;
  const wantW = w.q.map((q) => Math.fround(q * w.scale + w.min));
  const wantS = scale.q.map((q) => Math.fround(q * scale.scale + scale.min));
  assert.equal(Array.from(await weights.w[0].data()), wantW);
  assert.equal(Array.from(await weights.b[0].data()), b);
  assert.equal(Array.from(await weights.s[0].data()), wantS);

  const rows = [
    [1, 0, 0, 0],
    [0.5, -1, 2, 0.25],
  ];
  const x = tf.tensor2d(rows);
  const { y } = await model.predict({ x });
  const got = (await y.array()) as number[][];
  rows.forEach((row, r) =>
    [0, 1, 2].forEach((c) => {
      const want = (row.reduce((sum, v, k) => sum + v * wantW[k * 3 + c], 0) + b[c]) * wantS[c];
      assert.ok(Math.abs(got[r][c] - want) < 1e-5, `y[${r}][${c}] = ${got[r][c]}, want ${want}`);
    }),
  );
  tf.dispose([x, y]);
  model.dispose();
  assert.is(tf.memory().numTensors, baseline);
});

s('a loaded graph model keeps no JS copy of its weights (only the backend holds them)', async () => {
  const model = await loadModel(fixture('graph-two-io'));
  const kept = (model.model as unknown as { artifacts: tf.io.ModelArtifacts }).artifacts;
  assert.ok(kept.modelTopology, 'the model still has its topology');
  assert.is(kept.weightData, undefined);
  model.dispose();
});

s('a graph with two named inputs (one int32) and two named outputs runs by signature name', async () => {
  const baseline = tf.memory().numTensors;
  const model = await loadModel(fixture('graph-two-io'));
  assert.equal(model.signature, {
    inputs: [
      { name: 'a', dtype: 'float32', shape: [null, 3] },
      { name: 'n', dtype: 'int32', shape: [null, 3] },
    ],
    outputs: [
      { name: 'scaled_sum', dtype: 'float32', shape: [null, 3] },
      { name: 'n_squared', dtype: 'int32', shape: [null, 3] },
    ],
  });
  const a = tf.tensor2d([
    [1, 2, 3],
    [0.5, 0, -1],
  ]);
  const n = tf.tensor2d(
    [
      [1, 2, 3],
      [-4, 0, 7],
    ],
    undefined,
    'int32',
  );
  const out = await model.predict({ a, n });
  assert.equal(Object.keys(out).sort(), ['n_squared', 'scaled_sum']);
  assert.is(out.n_squared.dtype, 'int32');
  assert.equal(await out.n_squared.array(), [
    [1, 4, 9],
    [16, 0, 49],
  ]);
  assert.equal(await out.scaled_sum.array(), [
    [2, 40, 600],
    [-3.5, 0, 600],
  ]);
  tf.dispose([a, n, ...Object.values(out)]);
  model.dispose();
  assert.is(tf.memory().numTensors, baseline);
});

s('a graph with a while loop runs through executeAsync (execute refuses it)', async () => {
  const baseline = tf.memory().numTensors;
  const model = await loadModel(fixture('graph-while-loop'));
  const x = tf.tensor1d([1, 3, -0.5]);
  const n = tf.scalar(5, 'int32');
  assert.throws(() => (model.model as tf.GraphModel).execute({ x, n }), /executeAsync/);
  const { y } = await model.predict({ x, n });
  assert.equal(Array.from(await y.data()), [32, 96, -16]);
  const zero = tf.scalar(0, 'int32');
  const { y: same } = await model.predict({ x, n: zero });
  assert.equal(Array.from(await same.data()), [1, 3, -0.5]);
  tf.dispose([x, n, y, zero, same]);
  model.dispose();
  assert.is(tf.memory().numTensors, baseline);
});

s('predict rejects a missing, unknown, mistyped or misshapen input with INVALID_ARGUMENT naming it', async () => {
  const baseline = tf.memory().numTensors;
  const model = await loadModel(fixture('graph-two-io'));
  const a = tf.zeros([1, 3]);
  const n = tf.zeros([1, 3], 'int32');
  const nFloat = tf.zeros([1, 3]);
  const aWide = tf.zeros([1, 4]);
  const cases: [Record<string, tf.Tensor>, string][] = [
    [{ a }, 'inputs.n'],
    [{ a, n, extra: a }, 'inputs.extra'],
    [{ a, n: nFloat }, 'inputs.n'],
    [{ a: aWide, n }, 'inputs.a'],
  ];
  for (const [inputs, field] of cases) {
    try {
      await model.predict(inputs);
      assert.unreachable(field);
    } catch (error) {
      assert.ok(isOlympianError(error, 'INVALID_ARGUMENT'), String(error));
      assert.is((error as { field?: string }).field, field);
    }
  }
  tf.dispose([a, n, nFloat, aWide]);
  model.dispose();
  assert.is(tf.memory().numTensors, baseline);
});

s.run();
