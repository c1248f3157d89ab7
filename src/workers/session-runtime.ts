/**
 * What a session worker does with its model: load it, put the kernel gate in front of the backend's kernels,
 * warm up, and run batches — every kernel inside `gate.begin()` … `gate.end()`, so it runs while this
 * session holds a device token.
 */
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import * as tf from '@tensorflow/tfjs';
import { TokenClient, type TokenGrant } from '../arbiter/token-client.js';
import type { LoadedModel } from '../models/index.js';
import type { BackendRequest, MemoryReport, ModelSource, SessionInfo } from '../protocol/session-messages.js';
import { arrayTypeOf, elementCount, type NamedTensors, type WireTensor } from '../protocol/tensors.js';
import { initBackend, readsAreCopies } from './backend.js';
import { KernelGate } from './gate.js';
import { installKernelGate } from './kernel-gate.js';
import { loadSessionModel } from './load-model.js';
import {
  kBatchesField,
  kChargedMsField,
  kHeapUsedMbField,
  kInferencesField,
  kKernelsField,
  kLastInferenceMsField,
  kLiveTensorsField,
  kLongestKernelMsField,
} from './session-layout.js';

export interface SessionWorkerData {
  name: string;
  model: ModelSource;
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
  /** Gives the token back if it is still held. */
  release(): void;
  collect(): MemoryReport;
}

export async function startRuntime(data: SessionWorkerData, stats: Float64Array): Promise<Runtime> {
  const backend = await initBackend(data.backend);
  const model = await loadSessionModel(data.model);
  // An ungated session (no arbiter) runs the backend's kernels untouched: it is the baseline gate costs are
  // measured against, so it does not count kernels either.
  const gate = data.grant ? new KernelGate(new TokenClient(data.grant)) : null;
  if (gate) {
    installKernelGate(backend.name, (_name, costMs) => {
      stats[kKernelsField]++;
      stats[kChargedMsField] += costMs;
      if (costMs > stats[kLongestKernelMsField]) stats[kLongestKernelMsField] = costMs;
      gate.charge(costMs);
    });
  }
  const copyOnRead = !readsAreCopies(backend.name);
  const runBatch = (requests: NamedTensors[], keepToken: () => boolean) => run(model, gate, requests, copyOnRead, stats, keepToken);

  const warmupStart = performance.now();
  const kernelsBefore = stats[kKernelsField];
  const weightBytes = tf.memory().numBytes;
  const profile = await tf.profile(async () => {
    await runBatch([zeroInputs(model)], () => false);
    return [] as tf.Tensor[];
  });
  const info: SessionInfo = {
    backend,
    signature: model.signature,
    kernelsPerInference: stats[kKernelsField] - kernelsBefore,
    warmupMs: performance.now() - warmupStart,
    baselineTensors: tf.memory().numTensors,
    accounting: 'measured',
    weightsMb: weightBytes / 2 ** 20,
    activationsMbPerItem: Math.max(0, profile.peakBytes - weightBytes) / 2 ** 20,
  };
  stats[kInferencesField] = 0;
  stats[kBatchesField] = 0;
  return { info, runBatch, release: () => gate?.end(), collect: () => collect(stats) };
}

async function run(
  model: LoadedModel,
  gate: KernelGate | null,
  requests: NamedTensors[],
  copyOnRead: boolean,
  stats: Float64Array,
  keepToken: () => boolean,
): Promise<NamedTensors[]> {
  const started = performance.now();
  const rows = requests.map((inputs) => Object.values(inputs)[0]?.shape[0] ?? 1);
  let inputs: Record<string, tf.Tensor> = {};
  let outputs: Record<string, tf.Tensor> = {};
  try {
    gate?.begin();
    try {
      inputs = batchInputs(requests);
      outputs = await model.predict(inputs);
      const split: NamedTensors[] = requests.map(() => ({}));
      for (const spec of model.signature.outputs) {
        readBack(outputs[spec.name], rows, copyOnRead).forEach((tensor, i) => (split[i][spec.name] = tensor));
      }
      return split;
    } finally {
      gate?.end(keepToken());
    }
  } finally {
    tf.dispose(Object.values(outputs));
    tf.dispose(Object.values(inputs));
    stats[kInferencesField] += requests.length;
    stats[kBatchesField]++;
    stats[kLastInferenceMsField] = performance.now() - started;
    stats[kLiveTensorsField] = tf.memory().numTensors;
    stats[kHeapUsedMbField] = getHeapStatistics().used_heap_size / 2 ** 20;
  }
}

/** One tensor per input name; several requests are concatenated on axis 0 (a kernel, so gated too). */
function batchInputs(requests: NamedTensors[]): Record<string, tf.Tensor> {
  const names = Object.keys(requests[0]);
  return tf.tidy(() => {
    const batched: Record<string, tf.Tensor> = {};
    for (const name of names) {
      const parts = requests.map((inputs) => tf.tensor(inputs[name].data, inputs[name].shape, tfDtypeOf(inputs[name].dtype)));
      batched[name] = parts.length === 1 ? parts[0] : tf.concat(parts, 0);
    }
    return batched;
  });
}

/** One copy out of the backend per output; each request gets a view of its rows (transferred once). */
function readBack(tensor: tf.Tensor, rows: number[], copyOnRead: boolean): WireTensor[] {
  const values = tensor.dataSync();
  // cpu hands back its own storage, so copy it; wasm already copies out of its heap.
  const data = (copyOnRead ? values.slice() : values) as WireTensor['data'];
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

/** TF.js computes in float32, int32 and bool: narrower integers widen to int32, float64 narrows. */
function tfDtypeOf(dtype: WireTensor['dtype']): tf.DataType {
  if (dtype === 'float32' || dtype === 'float64') return 'float32';
  return dtype === 'bool' ? 'bool' : 'int32';
}

/** Batch-1 zeros for every input: what warm-up runs. */
function zeroInputs(model: LoadedModel): NamedTensors {
  const inputs: NamedTensors = {};
  for (const spec of model.signature.inputs) {
    const shape = (spec.shape ?? [1]).map((d) => d ?? 1);
    const dtype = spec.dtype === 'int32' || spec.dtype === 'bool' ? spec.dtype : 'float32';
    inputs[spec.name] = { dtype, shape, data: new (arrayTypeOf(dtype))(elementCount(shape)) };
  }
  return inputs;
}

/** A full GC (V8's gc(), reached without --expose-gc on the command line) and what is left afterwards. */
function collect(stats: Float64Array): MemoryReport {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
  const report = { liveTensors: tf.memory().numTensors, heapUsedMb: getHeapStatistics().used_heap_size / 2 ** 20 };
  stats[kLiveTensorsField] = report.liveTensors;
  stats[kHeapUsedMbField] = report.heapUsedMb;
  return report;
}
