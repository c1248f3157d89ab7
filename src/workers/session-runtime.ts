/**
 * What a session worker does with its model: load it, put the kernel gate in front of the backend's kernels,
 * choose what each kernel is charged, warm up, and run batches (session-batch.ts) — every kernel inside
 * `gate.begin()` … `gate.end()`, so it runs while this session holds a device token.
 */
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import * as tf from '../device/tfjs.js';
import { TokenClient, type TokenGrant } from '../arbiter/token-client.js';
import type { LoadedModel } from '../models/index.js';
import type { BackendInfo, BackendRequest, MemoryReport, SessionInfo } from '../protocol/session-messages.js';
import { arrayTypeOf, elementCount, type NamedTensors } from '../protocol/tensors.js';
import { initBackend, isAsynchronous, readsAreCopies } from '../device/backend.js';
import { onDeviceLost, submitQueued } from '../device/webgpu.js';
import { Errors } from '../protocol/errors.js';
import type { KernelGate } from '../arbiter/kernel-gate.js';
import { installKernelHook } from '../device/kernel-hook.js';
import { loadSessionModel } from './load-model.js';
import { releaseWeights } from '../device/wasm-weights.js';
import { runBatch as runOneBatch, type Device } from './session-batch.js';
import { autoProfiledCosts, loadProfiledCosts, type ProfiledCosts } from '../profiler/cost-plans.js';
import { currentThreadId } from '../arbiter/os-thread.js';
import { sessionGate } from './session-gate.js';
import type { SessionOptions } from './session-options.js';
import {
  checkWarmupNames,
  fillWarmup,
  warmupFailed,
  warmupFill,
  warmupShape,
  type WarmupInputs,
} from '../protocol/warmup-inputs.js';
import {
  kBatchesField,
  kBusyMsField,
  kChargedMsField,
  kExitGpuLost,
  kExitReasonField,
  kGpuMsField,
  kGpuWaitMsField,
  kGpuWaitsField,
  kHeapUsedMbField,
  kInferencesField,
  kKernelMsField,
  kKernelsField,
  kLiveTensorsField,
  kLongestKernelMsField,
} from './session-layout.js';

/** What a session's thread is started with: the session's options it acts on, and the shared buffers. */
export interface SessionWorkerData
  extends Pick<
    SessionOptions,
    | 'name'
    | 'model'
    | 'gateMode'
    | 'accounting'
    | 'profile'
    | 'autoProfile'
    | 'gpuTiming'
    | 'executionProviders'
    | 'intraOpThreads'
    | 'segmentMs'
    | 'warmupInputs'
    | 'maxBatch'
  > {
  backend: BackendRequest;
  /** null: run ungated (no arbiter). */
  grant: TokenGrant | null;
  stats: SharedArrayBuffer;
  /** Int32Array(1): requests accepted and not yet started (session-layout.ts). */
  backlog: SharedArrayBuffer;
}

export interface Runtime {
  info: SessionInfo;
  /**
   * Runs several requests as one batch (inputs concatenated on the batch axis) and splits the outputs back;
   * `keepToken` says whether more work follows, so the token is kept for it.
   */
  runBatch(requests: NamedTensors[], keepToken: () => boolean): Promise<NamedTensors[]>;
  /** Gives the token back if it is still held; `stillBacklogged`: more work is on its way (KernelGate.handBack). */
  release(stillBacklogged: boolean): void;
  collect(): MemoryReport;
  /** Frees the model before the thread ends (an ONNX session on a GPU provider: under the token). */
  dispose?(): Promise<void>;
}

/**
 * Sets a session up, step by step: watch for a lost GPU, the backend, the model, what the device is like,
 * the token gate (none without an arbiter), the costs a profile predicts (accounting: 'predicted'), the kernel
 * hook that charges every kernel, then a warm-up that also measures what the session reports.
 */
export async function startRuntime(data: SessionWorkerData, stats: Float64Array): Promise<Runtime> {
  stats[kExitReasonField] = 0;
  onDeviceLost(() => (stats[kExitReasonField] = kExitGpuLost));
  const backend = await initBackend(data.backend);
  const model = await loadSessionModel(data.model);
  // Before anything runs the model: its first products pack the released weights (wasm-weights.ts).
  const released = backend.name === 'wasm' ? releaseWeights(tf.backend(), model.weights()) : null;
  const device = deviceOf(backend, data);
  // An ungated session (no arbiter) runs the backend's kernels untouched: it is the baseline gate costs are
  // measured against, so it does not count kernels either.
  const client = data.grant ? new TokenClient(data.grant) : null;
  // Profiling runs the model ungated, before the gate goes in (it installs and removes its own hook).
  device.profiled =
    client && data.accounting === 'predicted' ? await profiledCosts(data, model, backend, client.quantumMs) : null;
  // A synchronous backend charging what it measures runs every kernel on this thread.
  const gated = client
    ? sessionGate(
        client,
        stats,
        !device.asynchronous && !device.profiled,
        device.asynchronous ? submitQueued : undefined,
      )
    : null;
  const gate = gated?.gate ?? null;
  const cpuClock = gated?.cpuClock ?? null;
  const estimatesMs = new Map<string, number>();
  if (gate) chargeEveryKernel(backend.name, gate, device, estimatesMs, stats);
  const runBatch = (requests: NamedTensors[], keepToken: () => boolean) =>
    runOneBatch(model, gate, device, requests, stats, keepToken);
  const info = await warmUp(data, backend, model, device, runBatch, estimatesMs, stats, cpuClock !== null);
  if (released) {
    released.settle();
    // The JS copies of the packed weights are garbage now; without a full GC they stay resident until one.
    fullGc();
  }
  for (const field of [
    kInferencesField,
    kBatchesField,
    kChargedMsField,
    kLongestKernelMsField,
    kGpuMsField,
    kGpuWaitsField,
    kGpuWaitMsField,
    kBusyMsField,
    kKernelMsField,
  ])
    stats[field] = 0;
  return {
    info,
    runBatch,
    release: (stillBacklogged) => gate?.handBack(stillBacklogged),
    collect: () => collect(stats),
    dispose: async () => cpuClock?.close(),
  };
}

function deviceOf(backend: BackendInfo, data: SessionWorkerData): Device {
  const device: Device = {
    asynchronous: isAsynchronous(backend.name),
    copyOnRead: !readsAreCopies(backend.name),
    strict: data.gateMode === 'strict',
    gpuTiming: Boolean(data.gpuTiming),
  };
  if (device.gpuTiming && !(backend.name === 'webgpu' && backend.flags.timestampQuery === true)) {
    throw Errors.invalidConfig(
      'gpuTiming',
      `needs the webgpu backend on an adapter with timestamp queries (this session runs ${backend.name}${backend.name === 'webgpu' ? ' without timestamp-query' : ''})`,
    );
  }
  return device;
}

function profiledCosts(
  data: SessionWorkerData,
  model: LoadedModel,
  backend: BackendInfo,
  quantumMs: number,
): Promise<ProfiledCosts> | ProfiledCosts {
  return data.autoProfile
    ? autoProfiledCosts(model, data.model, backend, quantumMs)
    : loadProfiledCosts(data.profile ?? 'profiles', data.model, backend, quantumMs);
}

/**
 * Puts the gate in front of every kernel. With a profile, each kernel is charged its predicted cost (those
 * the plan has none for fall back). Otherwise synchronous backends charge device occupancy: the time since
 * the previous kernel ended (see KernelGate.sinceMark). On webgpu a kernel only encodes work, so it is
 * charged its kernel name's GPU-time estimate, which the warm-up fills in (until then, nothing).
 */
function chargeEveryKernel(
  backendName: string,
  gate: KernelGate,
  device: Device,
  estimatesMs: Map<string, number>,
  stats: Float64Array,
): void {
  const profiled = device.profiled;
  const measured = device.asynchronous ? (name: string) => estimatesMs.get(name) ?? 0 : () => gate.sinceMark();
  installKernelHook(backendName, (name, kernelMs, params) => {
    const predicted = profiled ? profiled.next(name, params) : -1;
    const costMs = predicted >= 0 ? predicted : measured(name);
    stats[kKernelsField]++;
    stats[kKernelMsField] += costMs;
    if (kernelMs > stats[kLongestKernelMsField]) stats[kLongestKernelMsField] = kernelMs;
    gate.charge(costMs);
  });
}

/** One batch-1 inference of zeros, profiled: kernels per inference, memory, and (webgpu) kernel estimates. */
async function warmUp(
  data: SessionWorkerData,
  backend: BackendInfo,
  model: LoadedModel,
  device: Device,
  runBatch: Runtime['runBatch'],
  estimatesMs: Map<string, number>,
  stats: Float64Array,
  chargesCpuTime: boolean,
): Promise<SessionInfo> {
  const warmupStart = performance.now();
  const kernelsBefore = stats[kKernelsField];
  const weightBytes = tf.memory().numBytes;
  checkWarmupNames(model.signature.inputs, data.warmupInputs);
  const zeros = warmupRequest(model, data.warmupInputs);
  const profile = await tf
    .profile(async () => {
      await runBatch([zeros], () => false);
      return [] as tf.Tensor[];
    })
    .catch((error: unknown) => {
      const fed = Object.fromEntries(Object.entries(zeros).map(([name, tensor]) => [name, tensor.shape]));
      throw warmupFailed(error, typeof data.model === 'string' ? data.model : 'its module', fed);
    });
  const kernelsPerInference = stats[kKernelsField] - kernelsBefore;
  const warmupMs = performance.now() - warmupStart;
  let accountingNote = device.asynchronous
    ? estimateKernelCosts(profile, estimatesMs, await timeOneInference(runBatch, zeros), kernelsPerInference)
    : chargesCpuTime
      ? "the thread's CPU time while it works (synchronous backend: its kernels run on it); quanta end by occupancy, the wall time from one kernel to the next"
      : 'device occupancy: wall time from one kernel to the next while holding the token (synchronous backend)';
  let accounting: SessionInfo['accounting'] = device.asynchronous ? 'estimated' : 'measured';
  const profiled = device.profiled;
  if (profiled && profiled.mode !== 'measured') {
    accounting = profiled.mode;
    accountingNote = profiled.warning ?? "the profile's per-kernel cost at the batch size run (a + b·batch)";
  } else if (profiled?.warning) {
    accountingNote = `${profiled.warning}; ${accountingNote}`;
  }
  return {
    tid: currentThreadId(),
    backend,
    signature: model.signature,
    kernelsPerInference,
    warmupMs,
    baselineTensors: tf.memory().numTensors,
    accounting,
    accountingNote,
    gateMode: data.gateMode ?? 'overlap',
    weightsMb: weightBytes / 2 ** 20,
    activationsMbPerItem: Math.max(0, profile.peakBytes - weightBytes) / 2 ** 20,
    runCostLine: profiled?.runCostLine() ?? null,
  };
}

/**
 * Fills `estimatesMs` with each kernel name's mean GPU time from the warm-up profile (timestamp queries).
 * Without timestamps, every kernel gets an even share of a measured inference. Returns how it was done.
 */
function estimateKernelCosts(
  profile: Awaited<ReturnType<typeof tf.profile>>,
  estimatesMs: Map<string, number>,
  inferenceMs: number,
  kernels: number,
): string {
  const sums = new Map<string, { ms: number; count: number }>();
  for (const kernel of profile.kernels) {
    const ms = typeof kernel.kernelTimeMs === 'number' ? kernel.kernelTimeMs : NaN;
    if (!Number.isFinite(ms)) continue;
    const entry = sums.get(kernel.name) ?? { ms: 0, count: 0 };
    entry.ms += ms;
    entry.count++;
    sums.set(kernel.name, entry);
  }
  const timed = [...sums.values()].reduce((sum, entry) => sum + entry.ms, 0) > 0;
  for (const kernel of profile.kernels) {
    const entry = sums.get(kernel.name);
    estimatesMs.set(kernel.name, timed && entry ? entry.ms / entry.count : inferenceMs / Math.max(1, kernels));
  }
  return timed
    ? 'per-kernel-name mean GPU time from the warm-up (timestamp queries); no profile yet'
    : `no timestamp queries on this adapter: each kernel charged an even share of a measured inference (${inferenceMs.toFixed(2)} ms)`;
}

/** Wall time of one batch-1 inference, readback included: the fallback cost basis on an async device. */
async function timeOneInference(runBatch: Runtime['runBatch'], zeros: NamedTensors): Promise<number> {
  const start = performance.now();
  await runBatch([zeros], () => false);
  return performance.now() - start;
}

/** A batch-1 input for every input (zeros, unless `warmupInputs` says otherwise): what warm-up runs. */
function warmupRequest(model: LoadedModel, warmups: WarmupInputs | undefined): NamedTensors {
  const inputs: NamedTensors = {};
  for (const spec of model.signature.inputs) {
    const shape = warmupShape(spec, warmups, 1);
    const dtype = spec.dtype === 'int32' || spec.dtype === 'bool' ? spec.dtype : 'float32';
    const data = new (arrayTypeOf(dtype))(elementCount(shape));
    inputs[spec.name] = {
      dtype,
      shape,
      data: fillWarmup(data, dtype, warmupFill({ name: spec.name, dtype }, warmups)),
    };
  }
  return inputs;
}

/** V8's gc(), reached without --expose-gc on the command line. */
function fullGc(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

/** A full GC and what is left afterwards. */
function collect(stats: Float64Array): MemoryReport {
  fullGc();
  const report = { liveTensors: tf.memory().numTensors, heapUsedMb: getHeapStatistics().used_heap_size / 2 ** 20 };
  stats[kLiveTensorsField] = report.liveTensors;
  stats[kHeapUsedMbField] = report.heapUsedMb;
  return report;
}
