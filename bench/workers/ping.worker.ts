/** MessagePort baseline: bounce a timestamped message over a port and record one-way latency, µs. */
import type { MessagePort } from 'node:worker_threads';
import { parentPort, workerData } from 'node:worker_threads';
import { nowMs } from '../../src/arbiter/clock.js';

const { port, starter, rounds } = workerData as { port: MessagePort; starter: boolean; rounds: number };
const samples: number[] = [];
port.on('message', (sentAt: number) => {
  samples.push((nowMs() - sentAt) * 1000);
  if (samples.length >= rounds) {
    if (!starter) port.postMessage(nowMs());
    port.close();
    parentPort!.postMessage({ type: 'done', samples });
    return;
  }
  port.postMessage(nowMs());
});
if (starter) port.postMessage(nowMs());
