import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer } from '../src/server/server.js';
import { fixtureWorker, nextMessage } from './helpers.js';
import { tinySession } from './helpers-server.js';

const rpc = suite('RPC from another worker thread (comlink over a MessagePort)');

rpc('infer and stats work, tensors are transferred, errors keep their code and field', async () => {
  const server = await createServer({ backend: 'wasm', sessions: [tinySession('m')] });
  const port = server.connect();
  const worker = fixtureWorker('rpc-client.worker.js', { port });
  try {
    const done = await nextMessage<{
      shape: number[];
      outputType: string;
      values: number[];
      detached: boolean;
      errors: Array<{ code: string; field?: string; name: string }>;
      inferences: number;
      models: string[];
    }>(worker, 'done');
    assert.equal(done.shape, [1, 10]);
    assert.is(done.outputType, 'Float32Array');
    const local = await server.infer('m', {
      image: { dtype: 'float32', shape: [1, 16, 16, 3], data: new Float32Array(16 * 16 * 3).map((_, i) => Math.sin(i)) },
    });
    assert.equal(done.values, Array.from(local.logits.data), 'same answer as in-process');
    assert.ok(done.detached, 'the input buffer was transferred, not copied');
    assert.equal(done.errors, [
      { code: 'NOT_FOUND', field: 'model', name: 'OlympianError' },
      { code: 'INVALID_ARGUMENT', field: 'inputs.image.shape', name: 'OlympianError' },
    ]);
    assert.is(done.inferences, 1);
    assert.equal(done.models, ['m']);
  } finally {
    await worker.terminate();
    await server.close();
  }
});

rpc.run();
