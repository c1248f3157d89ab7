/**
 * A synthetic session: closed-loop "inferences" of `kernelsPerInference` synthetic kernels, each charging its
 * calibrated cost through the kernel gate (or running ungated, for baselines). Used by tests, benches and the
 * demo; it makes no policy decisions.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { nowMs } from '../../src/arbiter/clock.js';
import { TokenClient, type TokenGrant } from '../../src/arbiter/token-client.js';
import { KernelGate } from '../../src/arbiter/kernel-gate.js';
import { threadCpuClock, type ThreadCpuClock } from '../../src/arbiter/os-thread.js';
import { spinKernel } from '../lib/synthetic-kernel.js';
import { currentThreadId, threadCpuMs } from '../lib/thread-cpu.js';
import { kGoField, kStopField, type SyntheticDone, type SyntheticWorkerData } from '../lib/synthetic-protocol.js';
import { serializeError } from '../../src/protocol/errors.js';

function main(data: SyntheticWorkerData): void {
  // The clock's descriptor belongs to the process, not the thread: closed however the session ends.
  const cpuClock = data.grant && data.charging === 'cpu-time' ? threadCpuClock() : null;
  try {
    run(data, cpuClock);
  } finally {
    cpuClock?.close();
  }
}

function run(data: SyntheticWorkerData, cpuClock: ThreadCpuClock | null): void {
  const control = new Int32Array(data.control);
  const gate = data.grant ? new KernelGate(new TokenClient(data.grant as TokenGrant), undefined, { cpuClock }) : null;
  parentPort!.postMessage({ type: 'ready', tid: currentThreadId() });
  while (Atomics.load(control, kGoField) === 0) Atomics.wait(control, kGoField, 0);

  const tid = currentThreadId();
  const cpuAtStart = threadCpuMs(tid);
  let kernels = 0;
  let sink = 0;
  const startedAt = nowMs();
  const stopped = () => Atomics.load(control, kStopField) !== 0 || (data.maxKernels > 0 && kernels >= data.maxKernels);
  while (!stopped()) {
    gate?.begin();
    for (let k = 0; k < data.kernelsPerInference && !stopped(); k++) {
      sink ^= spinKernel(data.kernelIterations);
      kernels++;
      gate?.charge(data.kernelCostMs);
    }
    gate?.end(!stopped());
  }
  gate?.end();
  const finishedAtMs = nowMs();
  const done: SyntheticDone = {
    type: 'done',
    kernels,
    wallMs: finishedAtMs - startedAt,
    finishedAtMs,
    cpuMs: threadCpuMs(tid) - cpuAtStart,
    longestKernelMs: gate?.longestKernelMs ?? data.kernelCostMs,
    sink,
  };
  parentPort!.postMessage(done);
}

try {
  main(workerData as SyntheticWorkerData);
} catch (error) {
  parentPort!.postMessage({ type: 'error', error: serializeError(error) });
}
