/**
 * A synthetic webgpu session: closed-loop "inferences" of `kernelsPerInference` GPU dispatches (see
 * synthetic-gpu-kernel.ts), each charged its calibrated solo cost through the kernel gate, or ungated for
 * baselines. Like a real session waiting for its results, it submits an inference, waits for the GPU, and only
 * then starts the next: its work in flight is at most one inference. Makes no policy decisions.
 *
 * The gate modes. Neither ever sits in a blocking `Atomics.wait` while a GPU promise of this thread is
 * pending: a blocked thread runs no event loop, and dawn.node resolves the promise on it.
 * 1. overlap: at a quantum boundary the gate submits and yields inside `charge` (nothing is awaited then);
 *    at the end of an inference the token goes back right after the submit, and the session waits for its
 *    GPU work without it.
 * 2. strict: at a boundary the gate submits and marks the yield due; with another session waiting, this one
 *    waits for the GPU, then yields; alone, it renews its quantum and goes on without waiting (as a model
 *    session does: session-runtime.ts `strictPause`). At the end of an inference it waits for the GPU before
 *    `end`, and keeps the token if backlogged.
 * With `calibrate` it only measures iterations per solo GPU ms (one worker alone, before any session runs).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { nowMs } from '../../src/arbiter/clock.js';
import { TokenClient } from '../../src/arbiter/token-client.js';
import { serializeError } from '../../src/protocol/errors.js';
import { KernelGate } from '../../src/arbiter/kernel-gate.js';
import { calibrateGpuSpin, GpuSpin } from '../lib/synthetic-gpu-kernel.js';
import {
  kCompletedKernelsField,
  kGoField,
  kGpuMsField,
  kStopField,
  type SyntheticDone,
  type SyntheticGpuWorkerData,
  type SyntheticMessage,
} from '../lib/synthetic-protocol.js';
import { currentThreadId, threadCpuMs } from '../lib/thread-cpu.js';
import { requestWebgpuAdapter } from '../../src/device/webgpu-adapter.js';

async function main(data: SyntheticGpuWorkerData): Promise<void> {
  const adapter = await requestWebgpuAdapter();
  // Calibration times with timestamp queries whenever the adapter has them; sessions only when asked to.
  const timing = data.calibrate ? adapter.features.has('timestamp-query') : data.gpuTiming;
  const spin = await GpuSpin.open(adapter, {
    iterations: data.kernelIterations,
    timing,
    maxDispatches: data.kernelsPerInference,
  });
  let message: SyntheticMessage;
  let lost: GPUDeviceLostReason;
  try {
    message = data.calibrate ? { type: 'calibrated', ...(await calibrateGpuSpin(spin)) } : await runSession(spin, data);
  } finally {
    // Before anything is posted: the launcher terminates this thread once it has the answer.
    lost = await spin.close();
  }
  if (message.type === 'done') message.gpu!.deviceLost = lost;
  parentPort!.postMessage(message);
}

async function runSession(spin: GpuSpin, data: SyntheticGpuWorkerData): Promise<SyntheticDone> {
  const control = new Int32Array(data.control);
  const progress = new Float64Array(data.progress);
  const strict = data.gateMode === 'strict';
  const gate = data.grant
    ? new KernelGate(new TokenClient(data.grant), () => spin.submit(), { deferYield: strict })
    : null;
  // Outside the measurement: the first dispatch compiles the shader (lavapipe JITs it) and wakes the GPU.
  spin.encode();
  spin.endInference();
  await spin.done();
  await spin.readGpuMs();
  parentPort!.postMessage({ type: 'ready', tid: currentThreadId() });
  await goSignal(control);

  const tid = currentThreadId();
  const cpuAtStart = threadCpuMs(tid);
  const submitsAtStart = spin.submits;
  let kernels = 0;
  let inferences = 0;
  let yieldsInInference = 0;
  let gpuMs = 0;
  const startedAt = nowMs();
  const stopped = () => Atomics.load(control, kStopField) !== 0 || (data.maxKernels > 0 && kernels >= data.maxKernels);
  try {
    while (!stopped()) {
      gate?.begin();
      let encoded = 0;
      while (encoded < data.kernelsPerInference && !stopped()) {
        spin.encode();
        encoded++;
        kernels++;
        gate?.charge(data.kernelCostMs);
        // A yield due after the last kernel is left to `end`, which offers it once the GPU is done anyway.
        if (gate?.yieldDue && encoded < data.kernelsPerInference && !stopped()) {
          if (gate.othersWaiting) {
            await spin.done();
            gate.yieldNow();
            yieldsInInference++;
          } else {
            gate.renewNow();
          }
        }
      }
      spin.endInference();
      if (gate && !strict) gate.end(false);
      await spin.done();
      if (gate && strict) gate.end(!stopped());
      inferences++;
      progress[kCompletedKernelsField] += encoded;
      // Timestamps are statistics: read after the token is settled, so reading them is nobody's device time.
      if (spin.timing) {
        gpuMs += await spin.readGpuMs();
        progress[kGpuMsField] = gpuMs;
      }
    }
  } finally {
    gate?.end();
  }
  const finishedAtMs = nowMs();
  return {
    type: 'done',
    kernels,
    wallMs: finishedAtMs - startedAt,
    finishedAtMs,
    cpuMs: threadCpuMs(tid) - cpuAtStart,
    longestKernelMs: gate?.longestKernelMs ?? data.kernelCostMs,
    sink: await spin.result(),
    gpu: {
      completedKernels: progress[kCompletedKernelsField],
      inferences,
      submits: spin.submits - submitsAtStart,
      yieldsInInference,
      gpuMs: spin.timing ? gpuMs : null,
      deviceLost: null,
    },
  };
}

/** Waits for the launcher's `go` without blocking the event loop (dawn.node runs its callbacks on it). */
async function goSignal(control: Int32Array): Promise<void> {
  // A pending waitAsync does not keep a thread alive: with nothing else to do, it would exit right here.
  const keepAlive = setInterval(() => {}, 60_000);
  try {
    while (Atomics.load(control, kGoField) === 0) {
      const waited = (Atomics as unknown as AtomicsWaitAsync).waitAsync(control, kGoField, 0);
      if (waited.async) await waited.value;
    }
  } finally {
    clearInterval(keepAlive);
  }
}

/** `Atomics.waitAsync` (Node ≥ 16) is ES2024; this project's lib stops at ES2023. */
interface AtomicsWaitAsync {
  waitAsync(
    array: Int32Array,
    index: number,
    value: number,
  ): { async: false; value: string } | { async: true; value: Promise<string> };
}

main(workerData as SyntheticGpuWorkerData).catch((error) =>
  parentPort!.postMessage({ type: 'error', error: serializeError(error) }),
);
