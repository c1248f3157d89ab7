/**
 * A session's own stats, written by its worker (one writer) into a small shared Float64Array and read by the
 * main thread at any time, so `stats()` never waits behind an inference.
 *
 * | field                 | meaning                                                        |
 * |-----------------------|----------------------------------------------------------------|
 * | kInferencesField      | units of work completed (inferences or batches)                |
 * | kKernelsField         | kernel launches through the gate                               |
 * | kLongestKernelMsField | the longest single kernel: the floor of the interleaving step  |
 * | kLastInferenceMsField | device-side duration of the last inference, ms                 |
 * | kLiveTensorsField     | tf.memory().numTensors after the last inference                |
 * | kHeapUsedMbField      | the worker isolate's used heap after the last inference, MiB   |
 * | kChargedMsField       | cost the gate charged, ms                                      |
 * | kBatchesField         | model runs (a batch of coalesced requests counts once)         |
 * | kGpuMsField           | webgpu with `gpuTiming`: GPU time of its dispatches (timestamps) |
 * | kGpuWaitsField        | webgpu `strict`: waits for the GPU before the token went on    |
 * | kGpuWaitMsField       | webgpu `strict`: time spent in those waits, ms                 |
 * | kExitReasonField      | why the thread is about to exit on its own (kExit…), else 0    |
 * | kBusyMsField          | time it held a token inside units of work (not between them), ms |
 * | kKernelMsField        | each kernel's cost as measured or predicted, added kernel by kernel, ms: what |
 * |                       | admission predicts from (per batch, where the charge follows a ticking CPU clock) |
 */
export const kInferencesField = 0;
export const kKernelsField = 1;
export const kLongestKernelMsField = 2;
export const kLastInferenceMsField = 3;
export const kLiveTensorsField = 4;
export const kHeapUsedMbField = 5;
export const kChargedMsField = 6;
export const kBatchesField = 7;
export const kGpuMsField = 8;
export const kGpuWaitsField = 9;
export const kGpuWaitMsField = 10;
export const kExitReasonField = 11;
export const kBusyMsField = 12;
export const kKernelMsField = 13;
export const kSessionStatsSize = 14;

/** kExitReasonField: the thread's GPU device was lost (it exits so that the session restarts on a new one). */
export const kExitGpuLost = 1;

export const newSessionStatsBuffer = () => new SharedArrayBuffer(kSessionStatsSize * 8);

/**
 * Each request has a claim word, and each session a backlog word (Int32, shared by the main thread and the
 * worker). The backlog counts requests accepted and not yet started, wherever they wait (the main thread's
 * queue, or staged in the worker's port), so a worker that finishes an inference knows whether more work is
 * coming and keeps its token. Whoever moves a claim word off kRequestPending (the worker starting it, or the
 * main thread giving up on it) decrements the backlog: exactly once per request.
 */
export const kRequestPending = 0;
export const kRequestCancelled = 1;
export const kRequestStarted = 2;

/** Main thread or worker: claims `claim` for `to`; true (and the backlog decremented) if it was pending. */
export function claimRequest(claim: Int32Array, backlog: Int32Array, to: number): boolean {
  if (Atomics.compareExchange(claim, 0, kRequestPending, to) !== kRequestPending) return false;
  Atomics.sub(backlog, 0, 1);
  return true;
}
