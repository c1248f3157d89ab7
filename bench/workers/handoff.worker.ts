/**
 * Handoff bench session: hold the token for `holdIterations` of work, yield, and record how long the
 * notify-to-wake took each time the token came back: from the grant timestamp the granting thread wrote in
 * this session's slot to the moment `yield` returns here.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { TokenClient, type TokenGrant } from '../../src/index.js';
import { nowMs } from '../../src/arbiter/clock.js';
import { kGrantedAtField, slotF64, viewsOf } from '../../src/arbiter/layout.js';
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
const grantedAt = slotF64(grant.slot, kGrantedAtField);
const { f64 } = viewsOf(grant.buffer);
const samples = new Float64Array(maxSamples);
let count = 0;
let sink = 0;

parentPort!.postMessage({ type: 'ready' });
while (Atomics.load(words, 0) === 0) Atomics.wait(words, 0, 0);
client.acquire();
while (Atomics.load(words, 1) === 0) {
  sink ^= spinKernel(holdIterations);
  if (client.yield(holdMs) && count < maxSamples) samples[count++] = (nowMs() - f64[grantedAt]) * 1000;
}
client.release(0);
parentPort!.postMessage({ type: 'done', samples: samples.subarray(0, count), sink });
