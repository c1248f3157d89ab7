import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, normalize } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as tf from '../src/device/tfjs.js';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { AdaptiveAvgPool2D } from '../src/models/adaptive-pool.js';
import { initBackend } from '../src/device/backend.js';
import { fileSystemHandler } from '../src/models/fs-handler.js';
import { loadModel } from '../src/models/loader.js';
import { buildZooModel } from '../src/models/zoo.js';

const s = suite('models: loading');
const fixtures = fileURLToPath(new URL('./fixtures/models/', import.meta.url));
let dir = '';
let server: Server;
let base = '';

s.before(async () => {
  assert.is((await initBackend('wasm')).name, 'wasm');
  dir = await mkdtemp(join(tmpdir(), 'olympian-models-'));
  // A static file server over the fixtures: tf.io.http is what loads http(s) sources.
  server = createServer((req, res) => {
    const path = normalize(join(fixtures, decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)));
    readFile(path).then(
      (body) => res.end(body),
      () => {
        res.statusCode = 404;
        res.end('not found');
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

s.after(async () => {
  await new Promise((resolve) => server.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

async function same(a: tf.Tensor, b: tf.Tensor): Promise<void> {
  assert.equal(a.shape, b.shape);
  assert.equal(await a.data(), await b.data());
}

s("a zoo model saved by TF.js's model.save to the fs handler reloads with bit-identical outputs", async () => {
  const baseline = tf.memory().numTensors;
  const original = buildZooModel('googlenet', { inputSize: 32, seed: 11 });
  await original.save(fileSystemHandler(join(dir, 'googlenet')));
  const loaded = await loadModel(join(dir, 'googlenet'));
  assert.is(loaded.kind, 'layers');
  assert.equal(loaded.signature.inputs, [{ name: 'input', dtype: 'float32', shape: [null, 32, 32, 3] }]);
  assert.equal(
    loaded.signature.outputs.map((o) => o.shape),
    [[null, 1000]],
  );
  const x = tf.randomUniform([3, 32, 32, 3], 0, 1, 'float32', 2);
  const want = original.predict(x) as tf.Tensor;
  const out = await loaded.predict({ input: x });
  await same(out[loaded.signature.outputs[0].name], want);
  tf.dispose([x, want, ...Object.values(out)]);
  original.dispose();
  loaded.dispose();
  assert.is(tf.memory().numTensors, baseline);
});

s("AlexNet's adaptive pool layer survives save and load", async () => {
  const baseline = tf.memory().numTensors;
  const input = tf.input({ shape: [9, 9, 2] });
  const pooled = new AdaptiveAvgPool2D({ size: 6, name: 'pool' }).apply(input) as tf.SymbolicTensor;
  const output = tf.layers
    .dense({ units: 4, kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) })
    .apply(tf.layers.flatten().apply(pooled)) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: output });
  await model.save(fileSystemHandler(join(dir, 'pool')));
  // Loaded back through a file:// URL, which Node's fetch (and so tf.io.http) cannot read.
  const loaded = await loadModel(pathToFileURL(join(dir, 'pool')).href);
  const x = tf.randomUniform([2, 9, 9, 2], 0, 1, 'float32', 4);
  const want = model.predict(x) as tf.Tensor;
  const out = await loaded.predict({ [loaded.signature.inputs[0].name]: x });
  await same(Object.values(out)[0], want);
  tf.dispose([x, want, ...Object.values(out)]);
  model.dispose();
  loaded.dispose();
  assert.is(tf.memory().numTensors, baseline);
});

s('a layers model with an int32 input and two named inputs and outputs predicts by name', async () => {
  const baseline = tf.memory().numTensors;
  const ids = tf.input({ shape: [4], dtype: 'int32', name: 'token_ids' });
  const feats = tf.input({ shape: [3], name: 'features' });
  const init = (seed: number) => tf.initializers.glorotUniform({ seed });
  const embedded = tf.layers
    .flatten()
    .apply(
      tf.layers.embedding({ inputDim: 10, outputDim: 2, embeddingsInitializer: init(1) }).apply(ids),
    ) as tf.SymbolicTensor;
  const joined = tf.layers.concatenate().apply([embedded, feats]) as tf.SymbolicTensor;
  const logits = tf.layers
    .dense({ units: 5, name: 'logits', kernelInitializer: init(2) })
    .apply(joined) as tf.SymbolicTensor;
  const score = tf.layers
    .dense({ units: 1, name: 'score', activation: 'sigmoid', kernelInitializer: init(3) })
    .apply(feats) as tf.SymbolicTensor;
  const model = tf.model({ inputs: [ids, feats], outputs: [logits, score] });
  await model.save(fileSystemHandler(join(dir, 'two-io')));
  const loaded = await loadModel(join(dir, 'two-io', 'model.json'));
  assert.equal(loaded.signature, {
    inputs: [
      { name: 'token_ids', dtype: 'int32', shape: [null, 4] },
      { name: 'features', dtype: 'float32', shape: [null, 3] },
    ],
    outputs: [
      { name: 'logits', dtype: 'float32', shape: [null, 5] },
      { name: 'score', dtype: 'float32', shape: [null, 1] },
    ],
  });
  const tokens = tf.tensor2d(
    [
      [1, 2, 3, 9],
      [0, 0, 4, 4],
    ],
    undefined,
    'int32',
  );
  const f = tf.tensor2d([
    [0.1, 0.2, 0.3],
    [1, -1, 0],
  ]);
  const out = await loaded.predict({ features: f, token_ids: tokens });
  const [wantLogits, wantScore] = model.predict([tokens, f]) as tf.Tensor[];
  await same(out.logits, wantLogits);
  await same(out.score, wantScore);
  tf.dispose([tokens, f, wantLogits, wantScore, ...Object.values(out)]);
  model.dispose();
  loaded.dispose();
  assert.is(tf.memory().numTensors, baseline);
});

s('graph models load over http(s) through tf.io.http', async () => {
  const model = await loadModel(`${base}/graph-two-io/model.json`);
  assert.is(model.kind, 'graph');
  const a = tf.ones([1, 3]);
  const n = tf.ones([1, 3], 'int32');
  const out = await model.predict({ a, n });
  assert.equal(await out.scaled_sum.array(), [[2, 20, 200]]);
  tf.dispose([a, n, ...Object.values(out)]);
  model.dispose();
});

s('zoo sources build in place, as zoo:<name>@<size> or an object', async () => {
  const baseline = tf.memory().numTensors;
  const a = await loadModel('zoo:mobilenet_v2@32');
  const b = await loadModel({ zoo: 'mobilenet_v2', inputSize: 32, seed: 0 });
  assert.is(a.kind, 'zoo');
  assert.is(a.source, 'zoo:mobilenet_v2@32');
  assert.equal(a.signature.inputs, [{ name: 'input', dtype: 'float32', shape: [null, 32, 32, 3] }]);
  const x = tf.randomUniform([1, 32, 32, 3], 0, 1, 'float32', 9);
  const [ya, yb] = [await a.predict({ input: x }), await b.predict({ input: x })].map((o) => Object.values(o)[0]);
  await same(ya, yb);
  assert.equal(ya.shape, [1, 1000]);
  tf.dispose([x, ya, yb]);
  a.dispose();
  b.dispose();
  assert.is(tf.memory().numTensors, baseline);
});

s.run();
