/**
 * One batch through an ONNX session: requests joined on the batch axis, a token taken before the first
 * segment, each segment's cost charged after it (the gate offers the token at a quantum boundary, so a split
 * model interleaves between segments; a whole one at its end), outputs split back per request as views of
 * the runtime's own output buffers, which are the session's to transfer.
 */
import { getHeapStatistics } from 'node:v8';
import type { KernelGate } from '../arbiter/kernel-gate.js';
import type { OnnxModel } from '../onnx/onnx-model.js';
import type { Ort, OrtData, OrtTensor } from '../onnx/ort.js';
import { batchSizeOf, elementCount, type NamedTensors, type WireTensor } from '../protocol/tensors.js';
import {
  kBatchesField,
  kBusyMsField,
  kHeapUsedMbField,
  kKernelMsField,
  kInferencesField,
  kKernelsField,
  kLastInferenceMsField,
  kLongestKernelMsField,
} from './session-layout.js';

/** What each segment of a run of `batch` items is charged, given its measured wall time. */
export type SegmentCharge = (segment: number, batch: number, measuredMs: number) => number;

export interface OnnxBatchContext {
  ort: Ort;
  model: OnnxModel;
  gate: KernelGate | null;
  charge: SegmentCharge;
  stats: Float64Array;
}

type Concatenable = OrtData & { set(array: ArrayLike<number | bigint>, offset?: number): void };

/** One tensor per input: a single request's data as it is, several copied end to end on axis 0. */
function joinInputs(ort: Ort, requests: NamedTensors[]): Record<string, OrtTensor> {
  const feeds: Record<string, OrtTensor> = {};
  for (const name of Object.keys(requests[0])) {
    const parts = requests.map((inputs) => inputs[name]);
    const first = parts[0];
    if (parts.length === 1) {
      feeds[name] = new ort.Tensor(first.dtype, first.data as OrtData, first.shape);
      continue;
    }
    const rows = parts.reduce((sum, part) => sum + part.shape[0], 0);
    const Type = first.data.constructor as new (length: number) => Concatenable;
    const data = new Type(rows * elementCount(first.shape.slice(1)));
    let offset = 0;
    for (const part of parts) {
      data.set(part.data as Concatenable, offset);
      offset += part.data.length;
    }
    feeds[name] = new ort.Tensor(first.dtype, data, [rows, ...first.shape.slice(1)]);
  }
  return feeds;
}

/** Each request's rows of one output: the whole tensor for one request, else views of its buffer. */
function splitRows(tensor: OrtTensor, rows: number[]): WireTensor[] {
  const dtype = tensor.type as WireTensor['dtype'];
  const shape = [...tensor.dims];
  const data = tensor.data as WireTensor['data'];
  if (rows.length === 1) return [{ dtype, shape, data }];
  const rowSize = elementCount(shape.slice(1));
  let offset = 0;
  return rows.map((count) => {
    const view = data.subarray(offset * rowSize, (offset + count) * rowSize) as WireTensor['data'];
    offset += count;
    return { dtype, shape: [count, ...shape.slice(1)], data: view };
  });
}

export async function runOnnxBatch(
  context: OnnxBatchContext,
  requests: NamedTensors[],
  keepToken: () => boolean,
): Promise<NamedTensors[]> {
  const { ort, model, gate, charge, stats } = context;
  const started = performance.now();
  const rows = requests.map(batchSizeOf);
  const batch = rows.reduce((a, b) => a + b, 0);
  const heldBefore = gate?.heldMs ?? 0;
  const feeds = joinInputs(ort, requests);
  const last = model.segmentCount - 1;
  let lastCostMs = 0;
  try {
    gate?.begin();
    const outputs = await model.run(feeds, (segment, ms) => {
      const costMs = charge(segment, batch, ms);
      stats[kKernelsField]++;
      stats[kKernelMsField] += costMs;
      if (ms > stats[kLongestKernelMsField]) stats[kLongestKernelMsField] = ms;
      // Between segments the gate may offer the token (a quantum boundary); after the last one the end does.
      if (segment < last) gate?.charge(costMs);
      else lastCostMs = costMs;
    });
    const split: NamedTensors[] = rows.map(() => ({}));
    for (const spec of model.signature.outputs) {
      splitRows(outputs[spec.name], rows).forEach((tensor, i) => (split[i][spec.name] = tensor));
    }
    return split;
  } finally {
    if (gate?.holding) gate.end(keepToken(), lastCostMs);
    if (gate) stats[kBusyMsField] += gate.heldMs - heldBefore;
    stats[kInferencesField] += requests.length;
    stats[kBatchesField]++;
    stats[kLastInferenceMsField] = performance.now() - started;
    stats[kHeapUsedMbField] = getHeapStatistics().used_heap_size / 2 ** 20;
  }
}
