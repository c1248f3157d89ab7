import { copyFile, mkdir, mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '../src/device/tfjs.js';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { isOlympianError, type OlympianError } from '../src/protocol/errors.js';
import { initBackend } from '../src/device/backend.js';
import { loadModel, type ModelSource } from '../src/models/loader.js';

const s = suite('models: load errors');
const fixtures = fileURLToPath(new URL('./fixtures/models/', import.meta.url));
let dir = '';

s.before(async () => {
  assert.is((await initBackend('wasm')).name, 'wasm');
  dir = await mkdtemp(join(tmpdir(), 'olympian-bad-models-'));
});

s.after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A copy of a fixture to break. */
async function copyOf(name: string): Promise<string> {
  const target = join(dir, `${name}-${Math.random().toString(36).slice(2)}`);
  await mkdir(target);
  const json = JSON.parse(await readFile(join(fixtures, name, 'model.json'), 'utf8'));
  for (const path of json.weightsManifest.flatMap((g: { paths: string[] }) => g.paths)) {
    await copyFile(join(fixtures, name, path), join(target, path));
  }
  await copyFile(join(fixtures, name, 'model.json'), join(target, 'model.json'));
  return target;
}

async function loadFails(source: ModelSource, file: string, why: RegExp): Promise<void> {
  const baseline = tf.memory().numTensors;
  try {
    const model = await loadModel(source);
    model.dispose();
    assert.unreachable(`${JSON.stringify(source)} loaded`);
  } catch (error) {
    assert.ok(isOlympianError(error, 'MODEL_LOAD_FAILED'), `expected MODEL_LOAD_FAILED, got ${String(error)}`);
    const { message, field } = error as OlympianError;
    assert.ok(message.includes(file), `message names ${file}: ${message}`);
    assert.is(field, 'model', 'the field is the configuration key; the message names the file');
    assert.match(message, why);
  }
  assert.is(tf.memory().numTensors, baseline);
}

s('a missing model.json, or a directory without one', async () => {
  await loadFails(join(dir, 'nowhere', 'model.json'), join(dir, 'nowhere', 'model.json'), /no such file/);
  await mkdir(join(dir, 'empty'));
  await loadFails(join(dir, 'empty'), join(dir, 'empty', 'model.json'), /no such file/);
});

s('malformed JSON', async () => {
  const target = await copyOf('graph-two-io');
  const file = join(target, 'model.json');
  const text = await readFile(file, 'utf8');
  await writeFile(file, text.slice(0, text.length / 2));
  await loadFails(target, file, /malformed JSON: not valid JSON at byte \d+/);
});

s('a file that is not JSON at all is named, and none of its bytes are echoed', async () => {
  const target = join(dir, 'secret');
  await mkdir(target);
  await writeFile(join(target, 'model.json'), 'root:x:0:0:root:/root:/bin/bash\n');
  await loadFails(target, join(target, 'model.json'), /^(?!.*root:x).*not valid JSON at byte 0$/);
});

s('JSON that is not a model, and an unknown format', async () => {
  const target = await copyOf('graph-two-io');
  const file = join(target, 'model.json');
  await writeFile(file, JSON.stringify([1, 2, 3]));
  await loadFails(file, file, /no modelTopology/);
  const json = JSON.parse(await readFile(join(fixtures, 'graph-two-io', 'model.json'), 'utf8'));
  await writeFile(file, JSON.stringify({ ...json, format: 'onnx' }));
  await loadFails(file, file, /unknown model format "onnx"/);
  await writeFile(file, JSON.stringify({ ...json, format: undefined, modelTopology: { layers: [] } }));
  await loadFails(file, file, /unknown model format/);
});

s('a malformed weights manifest', async () => {
  const target = await copyOf('graph-two-io');
  const file = join(target, 'model.json');
  const json = JSON.parse(await readFile(file, 'utf8'));
  await writeFile(file, JSON.stringify({ ...json, weightsManifest: { paths: 'x' } }));
  await loadFails(file, file, /weightsManifest/);
  json.weightsManifest[0].weights[0].dtype = 'float64';
  await writeFile(file, JSON.stringify(json));
  await loadFails(file, file, /unknown dtype "float64"/);
});

s('a graph node reading an undefined node, or a constant without weights', async () => {
  const target = await copyOf('graph-two-io');
  const file = join(target, 'model.json');
  const json = JSON.parse(await readFile(file, 'utf8'));
  json.modelTopology.node[3].input = ['nowhere:0'];
  await writeFile(file, JSON.stringify(json));
  await loadFails(target, target, /reads "nowhere:0", which no node defines/);
  json.modelTopology.node[3].input = ['n'];
  json.weightsManifest[0].weights[0].name = 'renamed';
  await writeFile(file, JSON.stringify(json));
  await loadFails(target, target, /constant "k" has no entry in the weights manifest/);
});

s('a missing weight shard names the shard', async () => {
  const target = await copyOf('graph-quantized');
  await rm(join(target, 'group1-shard2of2.bin'));
  await loadFails(target, join(target, 'group1-shard2of2.bin'), /weight shard is missing/);
});

s('a shard of the wrong size names the shard and both sizes', async () => {
  const target = await copyOf('graph-quantized');
  const shard = join(target, 'group1-shard2of2.bin');
  await truncate(shard, 5);
  await loadFails(target, shard, /hold 17 bytes, the manifest in .* expects 24/);
  await writeFile(shard, Buffer.alloc(40));
  await loadFails(target, shard, /hold 52 bytes/);
});

s('a corrupt layers model (a layer TF.js does not know) fails at load time', async () => {
  const target = join(dir, 'bad-layers');
  await mkdir(target);
  const topology = {
    class_name: 'Sequential',
    config: { name: 's', layers: [{ class_name: 'NoSuchLayer', config: { name: 'x' } }] },
  };
  await writeFile(
    join(target, 'model.json'),
    JSON.stringify({ format: 'layers-model', modelTopology: topology, weightsManifest: [] }),
  );
  await loadFails(target, target, /TF.js rejected the layers model: .*NoSuchLayer/);
});

s('a layers model whose weights do not match its layers fails at load time', async () => {
  const model = tf.sequential({ layers: [tf.layers.dense({ units: 2, inputShape: [3] })] });
  const target = join(dir, 'mismatch');
  await mkdir(target);
  await model.save({
    save: async (artifacts) => {
      // Drop the bias from the manifest and the bytes: the model then lacks a weight it needs.
      const specs = artifacts.weightSpecs!.slice(0, 1);
      await writeFile(join(target, 'weights.bin'), new Uint8Array(artifacts.weightData as ArrayBuffer).subarray(0, 24));
      await writeFile(
        join(target, 'model.json'),
        JSON.stringify({
          ...artifacts,
          weightData: undefined,
          weightSpecs: undefined,
          weightsManifest: [{ paths: ['weights.bin'], weights: specs }],
        }),
      );
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    },
  });
  model.dispose();
  await loadFails(target, target, /TF.js rejected the layers model/);
});

s('http(s): a 404 and a truncated shard name the URL', async () => {
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path.endsWith('shard2of2.bin')) return void res.end(Buffer.alloc(3));
    readFile(join(fixtures, path)).then(
      (body) => res.end(body),
      () => {
        res.statusCode = 404;
        res.end();
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    await loadFails(`${base}/nothing/model.json`, `${base}/nothing/model.json`, /404/);
    await loadFails(
      `${base}/graph-quantized/model.json`,
      `${base}/graph-quantized/model.json`,
      /hold 15 bytes, the manifest expects 24/,
    );
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});

s('a bad zoo source is a typed error, not a crash', async () => {
  await loadModel('zoo:lenet').then(
    () => assert.unreachable(),
    (e) => assert.ok(isOlympianError(e, 'NOT_FOUND'), String(e)),
  );
  await loadModel('zoo:Bad Name').then(
    () => assert.unreachable(),
    (e) => assert.ok(isOlympianError(e, 'INVALID_ARGUMENT'), String(e)),
  );
});

s.run();
