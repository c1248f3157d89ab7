/**
 * Handoff bench session: hold the token for `holdIterations` of work, yield, and record how long the
 * notify-to-wake took each time the token came back (measured by the arbiter's grant timestamp).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { TokenClient, type TokenGrant } from '../../src/index.js';
import { spinKernel } from '../lib/synthetic-kernel.js';

const { grant, control, holdIterations, holdMs, maxSamples } = workerData as {
  grant: TokenGrant;
  control: SharedArrayBuffer;
  holdIterations: number;
  holdMs: number;
  maxSamples: number;
};
const words = new Int32Array(control);
const client = new TokenClient(grant);
const samples = new Float64Array(maxSamples);
let count = 0;
let sink = 0;

parentPort!.postMessage({ type: 'ready' });
while (Atomics.load(words, 0) === 0) Atomics.wait(words, 0, 0);
client.acquire();
while (Atomics.load(words, 1) === 0) {
  sink ^= spinKernel(holdIterations);
  if (client.yield(holdMs) && count < maxSamples) samples[count++] = client.lastWakeUs;
}
client.release(0);
parentPort!.postMessage({ type: 'done', samples: samples.subarray(0, count), sink });
