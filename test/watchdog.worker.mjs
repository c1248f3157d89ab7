// The test run's watchdog (see run.ts): a thread of its own, so it still runs when the main thread is stuck
// in synchronous code. Ends the whole process once no test has reported for `silenceS` seconds.
import { writeSync } from 'node:fs';
import { workerData } from 'node:worker_threads';

const { heartbeat, silenceS, startedAt } = workerData;
const words = new Int32Array(heartbeat);
setInterval(() => {
  const nowS = Math.floor((Date.now() - startedAt) / 1000);
  if (nowS - Atomics.load(words, 0) < silenceS) return;
  const heading = Buffer.from(new Uint8Array(heartbeat, 8, Atomics.load(words, 1))).toString();
  writeSync(2, `\nno test reported for ${silenceS} s, a hang after "${heading}": ending the run\n`);
  process.kill(process.pid, 'SIGABRT');
}, 1000);
