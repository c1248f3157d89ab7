/**
 * A model run bare: loaded and run in this one thread on the wasm backend, with no server, queue, gate or
 * thread hop — what a request would cost without olympian. Each `run` message is timed here, inside the
 * thread, from the input tensor's creation to the output read back.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { initBackend } from '../../src/device/backend.js';
import * as tf from '../../src/device/tfjs.js';
import { loadModel } from '../../src/models/index.js';

const { zoo, inputSize } = workerData as { zoo: string; inputSize: number };
await initBackend('wasm');
const model = await loadModel({ zoo, inputSize, seed: 1 });
const input = model.signature.inputs[0].name;

async function runOnce(data: Float32Array): Promise<number> {
  const started = performance.now();
  const x = tf.tensor(data, [1, inputSize, inputSize, 3], 'float32');
  const outputs = await model.predict({ [input]: x });
  for (const tensor of Object.values(outputs)) {
    tensor.dataSync();
    tensor.dispose();
  }
  x.dispose();
  return performance.now() - started;
}

const warmup = new Float32Array(inputSize * inputSize * 3).fill(0.5);
for (let i = 0; i < 3; i++) await runOnce(warmup);
parentPort!.on('message', async (message: { type: 'run'; data: Float32Array }) => {
  parentPort!.postMessage({ type: 'ran', ms: await runOnce(message.data) });
});
parentPort!.postMessage({ type: 'ready' });
