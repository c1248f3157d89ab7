import { createRequire } from 'node:module';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { preferMinifiedTfjs } from '../src/device/minified-tfjs.js';
import '../src/device/tfjs.js';
import { spawnWorker } from '../src/workers/spawn.js';

const require = createRequire(import.meta.url);
const s = suite('TF.js builds in session threads');

s(
  'a thread that prefers the minified builds loads core and layers from them, as one instance that runs a model',
  async () => {
    const worker = spawnWorker(
      '../test/fixtures/minified-tfjs.worker.js',
      new URL('../src/index.ts', import.meta.url).href,
    );
    try {
      const report = await new Promise<Record<string, unknown>>((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
      });
      assert.match(String(report.core), /tfjs-core\/dist\/tf-core\.min\.js$/);
      assert.match(String(report.layers), /tfjs-layers\/dist\/tf-layers\.min\.js$/);
      // Layers built its model on the wasm backend that core initialised: one engine, not two.
      assert.is(report.backend, 'wasm');
      assert.equal(report.output, [7, 7]);
      assert.is(report.tensors, 0);
    } finally {
      await worker.terminate();
    }
  },
);

s('a thread that has already loaded TF.js keeps the build it loaded', () => {
  const main = require.resolve('@tensorflow/tfjs-core');
  const loaded = require.cache[main];
  assert.ok(loaded, 'this thread loaded core');
  preferMinifiedTfjs();
  assert.is(require.cache[main], loaded);
  assert.is(
    require.cache[require.resolve('@tensorflow/tfjs-layers')]?.filename,
    require.resolve('@tensorflow/tfjs-layers'),
  );
});

s.run();
