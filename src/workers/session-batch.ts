/**
 * One batch through a session's model (session-runtime.ts sets the session up): inputs in, every kernel
 * inside `gate.begin()` … `gate.end()`, outputs split back per request. On webgpu this is also where the token
 * meets the GPU: `overlap` hands it on once the work is submitted, `strict` once the GPU has run it.
 */
import { getHeapStatistics } from 'node:v8';
import * as tf from '../device/tfjs.js';
import type { Between, LoadedModel } from '../models/index.js';
import { Errors } from '../protocol/errors.js';
import { batchSizeOf, elementCount, type NamedTensors, type WireTensor } from '../protocol/tensors.js';
import { GpuKernelTimer } from '../device/gpu-timer.js';
import type { ProfiledCosts } from '../profiler/cost-plans.js';
import type { KernelGate } from '../arbiter/kernel-gate.js';
import {
  kBatchesField,
  kBusyMsField,
  kGpuMsField,
  kGpuWaitMsField,
  kGpuWaitsField,
  kHeapUsedMbField,
  kInferencesField,
  kLastInferenceMsField,
  kLiveTensorsField,
} from './session-layout.js';
import { gpuIdle, submitQueued, takeDeviceError } from '../device/webgpu.js';

/** What the session's backend is like, and how it hands the token on. */
export interface Device {
  /** Kernels are queued for the device (webgpu), not run on this thread. */
  asynchronous: boolean;
  /** Reading a tensor returns the backend's own storage (cpu): copy it before transferring. */
  copyOnRead: boolean;
  /** webgpu `strict` mode: wait for the GPU to finish before the token goes back. */
  strict: boolean;
  /** Time every dispatch with timestamp queries into kGpuMsField. */
  gpuTiming: boolean;
  /** Profile-predicted costs, when the session charges them. */
  profiled?: ProfiledCosts | null;
}

/** What one batch holds until its end: its tensors (disposed there) and its GPU time (webgpu `gpuTiming`). */
interface BatchRun {
  inputs: Record<string, tf.Tensor>;
  outputs: Record<string, tf.Tensor>;
  gpuMs: Promise<number> | null;
}

/**
 * One batch in stages: take the token, predict, settle the device (webgpu: submit, then hand the token on or
 * wait for the GPU), read the outputs back. Whatever happened, the end gives the token back if this session
 * still holds it (charging the readback's occupancy on a synchronous backend), disposes every tensor and
 * updates the stats.
 */
export async function runBatch(
  model: LoadedModel,
  gate: KernelGate | null,
  device: Device,
  requests: NamedTensors[],
  stats: Float64Array,
  keepToken: () => boolean,
): Promise<NamedTensors[]> {
  const started = performance.now();
  const rows = requests.map(batchSizeOf);
  const run: BatchRun = { inputs: {}, outputs: {}, gpuMs: null };
  const heldBefore = gate?.heldMs ?? 0;
  try {
    // Strict mode defers each boundary's yield to the next layer end, where it can wait for the GPU first. A
    // model that cannot pause (a graph model) yields at its boundaries as in overlap mode instead: holding
    // the token to the end of a long inference would undo the interleaving; it waits for the GPU at its end.
    const pausing = gate !== null && device.asynchronous && device.strict && model.canPause();
    if (gate) gate.deferYield = pausing;
    gate?.begin();
    device.profiled?.begin(rows.reduce((a, b) => a + b, 0));
    await predict(model, device, requests, run, pausing ? () => strictPause(gate!, stats) : undefined);
    device.profiled?.end();
    await settleDevice(gate, device, stats);
    return await readOutputs(model, device, rows, run);
  } finally {
    if (gate?.holding) {
      // Reading the results back occupied the device too (predicted costs cover the kernels only).
      const occupancy = gate.sinceMark();
      if (!device.asynchronous && (!device.profiled || device.profiled.mode === 'measured')) gate.charge(occupancy);
      gate.end(keepToken());
    }
    if (gate) stats[kBusyMsField] += gate.heldMs - heldBefore;
    // The readback waited for the GPU, so the timestamps are in (or on their way) by now.
    if (run.gpuMs) stats[kGpuMsField] += await run.gpuMs.catch(() => 0);
    tf.dispose(Object.values(run.outputs));
    tf.dispose(Object.values(run.inputs));
    stats[kInferencesField] += requests.length;
    stats[kBatchesField]++;
    stats[kLastInferenceMsField] = performance.now() - started;
    stats[kLiveTensorsField] = tf.memory().numTensors;
    stats[kHeapUsedMbField] = getHeapStatistics().used_heap_size / 2 ** 20;
  }
}

async function predict(
  model: LoadedModel,
  device: Device,
  requests: NamedTensors[],
  run: BatchRun,
  between: Between | undefined,
): Promise<void> {
  const timer = device.gpuTiming ? GpuKernelTimer.start() : null;
  try {
    run.inputs = batchInputs(requests);
    run.outputs = await model.predict(run.inputs, between);
  } finally {
    run.gpuMs = timer?.take().ms ?? null;
    timer?.stop();
  }
}

/**
 * webgpu: submit what is encoded. Overlap hands the token on at once, before the results are waited for;
 * strict keeps it until the GPU has finished, and then like on a synchronous backend it stays with a
 * backlogged session (the readback that follows is quick, and no blocking wait sits on a pending GPU promise:
 * the next wait for a token comes from the next kernel).
 */
async function settleDevice(gate: KernelGate | null, device: Device, stats: Float64Array): Promise<void> {
  if (!device.asynchronous) return;
  submitQueued();
  if (device.strict) await waitForGpu(stats);
  else gate?.end(false);
}

async function readOutputs(model: LoadedModel, device: Device, rows: number[], run: BatchRun): Promise<NamedTensors[]> {
  const split: NamedTensors[] = rows.map(() => ({}));
  for (const spec of model.signature.outputs) {
    (await readBack(run.outputs[spec.name], rows, device)).forEach((tensor, i) => (split[i][spec.name] = tensor));
  }
  const gpuError = device.asynchronous ? takeDeviceError() : null;
  if (gpuError)
    throw Errors.resourceExhausted(
      'device',
      `the GPU rejected this inference's work, so its outputs are wrong: ${gpuError}`,
    );
  return split;
}

/**
 * Strict mode after each layer. Past a quantum boundary with another session waiting: submit what the layer
 * encoded after the boundary, wait until the GPU has run all of this session's work, then offer the token
 * (the blocking wait for it to come back starts after the GPU promise has settled, so it holds up none).
 * With nobody waiting, the quantum is charged and the session goes on without waiting for the GPU.
 */
function strictPause(gate: KernelGate, stats: Float64Array): Promise<void> | null {
  if (!gate.yieldDue) return null;
  if (gate.othersWaiting) return handOverWhenIdle(gate, stats);
  gate.renewNow();
  return null;
}

async function handOverWhenIdle(gate: KernelGate, stats: Float64Array): Promise<void> {
  submitQueued();
  await waitForGpu(stats);
  gate.yieldNow();
}

async function waitForGpu(stats: Float64Array): Promise<void> {
  const start = performance.now();
  await gpuIdle();
  stats[kGpuWaitsField]++;
  stats[kGpuWaitMsField] += performance.now() - start;
}

/** One tensor per input name; several requests are concatenated on axis 0 (a kernel, so gated too). */
function batchInputs(requests: NamedTensors[]): Record<string, tf.Tensor> {
  const names = Object.keys(requests[0]);
  return tf.tidy(() => {
    const batched: Record<string, tf.Tensor> = {};
    for (const name of names) {
      const parts = requests.map((inputs) =>
        tf.tensor(inputs[name].data as tf.TypedArray, inputs[name].shape, tfDtypeOf(inputs[name].dtype)),
      );
      batched[name] = parts.length === 1 ? parts[0] : tf.concat(parts, 0);
    }
    return batched;
  });
}

/** One copy out of the backend per output; each request gets a view of its rows (transferred once). */
async function readBack(tensor: tf.Tensor, rows: number[], device: Device): Promise<WireTensor[]> {
  const values = device.asynchronous ? await tensor.data() : tensor.dataSync();
  // cpu hands back its own storage, so copy it; wasm and webgpu already copy out.
  const data = (device.copyOnRead ? values.slice() : values) as WireTensor['data'];
  const dtype = tensor.dtype as WireTensor['dtype'];
  if (rows.length === 1) return [{ dtype, shape: tensor.shape.slice(), data }];
  const rowSize = elementCount(tensor.shape.slice(1));
  let offset = 0;
  return rows.map((count) => {
    const view = data.subarray(offset * rowSize, (offset + count) * rowSize) as WireTensor['data'];
    offset += count;
    return { dtype, shape: [count, ...tensor.shape.slice(1)], data: view };
  });
}

/** Inputs arrive in their model's dtype (the server admits them so: protocol/dtypes.ts), which TF.js names alike. */
function tfDtypeOf(dtype: WireTensor['dtype']): tf.DataType {
  if (dtype === 'float32' || dtype === 'int32' || dtype === 'bool') return dtype;
  throw Errors.invalidArgument('dtype', `${dtype} reached a TF.js session unconverted`);
}
