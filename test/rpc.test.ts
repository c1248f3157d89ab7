import { MessageChannel } from 'node:worker_threads';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer } from '../src/server/server.js';
import { fixtureWorker, nextMessage } from './helpers.js';
import { tinySession } from './helpers-server.js';

const rpc = suite('RPC from another worker thread (comlink over a MessagePort)');

rpc(
  'infer and stats work, inputs are copied unless transferred, errors keep their code and field, every call settles',
  async () => {
    const server = await createServer({ backend: 'wasm', sessions: [tinySession('m')] });
    const port = server.connect();
    const worker = fixtureWorker('rpc-client.worker.js', { port });
    type Outcome = { code: string; field?: string; name: string; ms: number } | 'ok';
    try {
      const done = await nextMessage<{
        shape: number[];
        outputType: string;
        values: number[];
        sameAgain: boolean;
        keptByDefault: boolean;
        detachedByTransfer: boolean;
        errors: Outcome[];
        closed: Outcome[];
        inferences: number;
        models: string[];
      }>(worker, 'done');
      assert.equal(done.shape, [1, 10]);
      assert.is(done.outputType, 'Float32Array');
      const local = await server.infer('m', {
        image: {
          dtype: 'float32',
          shape: [1, 16, 16, 3],
          data: new Float32Array(16 * 16 * 3).map((_, i) => Math.sin(i)),
        },
      });
      assert.equal(done.values, Array.from(local.logits.data as ArrayLike<number>), 'same answer as in-process');
      assert.ok(done.keptByDefault && done.sameAgain, 'the caller keeps its input by default, and may send it again');
      assert.ok(done.detachedByTransfer, 'with transfer: true the buffer moved');
      const typed = (outcomes: Outcome[]) =>
        outcomes.map((o) => (o === 'ok' ? o : { code: o.code, field: o.field, name: o.name }));
      assert.equal(typed(done.errors), [
        { code: 'NOT_FOUND', field: 'model', name: 'OlympianError' },
        { code: 'INVALID_ARGUMENT', field: 'inputs.image.shape', name: 'OlympianError' },
        { code: 'INVALID_ARGUMENT', field: 'inputs.image.data', name: 'OlympianError' },
        { code: 'INVALID_ARGUMENT', field: 'inputs.image.dtype', name: 'OlympianError' },
      ]);
      const unavailable = { code: 'UNAVAILABLE', field: undefined, name: 'OlympianError' };
      assert.equal(typed(done.closed), [unavailable, unavailable, unavailable], 'calls on a closed connection settle');
      assert.is(done.inferences, 3);
      assert.equal(done.models, ['m']);
    } finally {
      await worker.terminate();
      await server.close();
    }
  },
);

rpc('a call waiting when the far end of its port closes settles with UNAVAILABLE', async () => {
  // Nobody answers on port1: the call can only settle through the close.
  const { port1, port2 } = new MessageChannel();
  const worker = fixtureWorker('rpc-waiting.worker.js', { port: port2 });
  try {
    await nextMessage(worker, 'sent');
    port1.close();
    const done = await nextMessage<{ outcome: { code: string } | 'ok' }>(worker, 'done');
    assert.equal(done.outcome, { code: 'UNAVAILABLE' });
  } finally {
    await worker.terminate();
  }
});

rpc.run();
