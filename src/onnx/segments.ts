/**
 * Splits a model into sequential segments: sub-models that run one after the other, each taking the graph's
 * inputs it reads and the values earlier segments made, so that a session can offer its token between them
 * (a run cannot be paused). Where to cut:
 *   1. a node's cost is estimated from the probe's shapes: multiply-adds for Conv, Gemm and MatMul, one per
 *      output element for everything else;
 *   2. segment k should end where the running cost reaches k/n of the total; among the cut positions within
 *      half a segment of that, the one carrying the fewest bytes across wins (each carried value is copied
 *      out of the runtime and back in), then the one nearest the target;
 *   3. a cut carries only tensors the probe has seen, so each segment's inputs can be typed.
 */
import { crossing, type GraphFlow } from './graph.js';
import {
  encodeModel,
  OnnxDataType,
  toNumber,
  type ModelMessage,
  type OnnxElementType,
  type ValueInfoMessage,
} from './onnx-proto.js';
import type { ValueShapes } from './probe.js';

export interface SegmentPlan {
  /** Node range [start, end) of the flow's order. */
  start: number;
  end: number;
  inputs: string[];
  outputs: string[];
  /** Bytes of the values it takes from earlier segments, at batch 1. */
  carriedBytes: number;
  model: Uint8Array;
}

const product = (dims: readonly number[]) => dims.reduce((a, b) => a * b, 1);

/** Multiply-adds (or output elements) of each node, from the probe's shapes at batch 1. */
export function nodeCosts(flow: GraphFlow, model: ModelMessage, shapes: ValueShapes): number[] {
  const weights = new Map(model.graph.initializer.map((t) => [t.name ?? '', (t.dims ?? []).map(toNumber)]));
  const dimsOf = (name: string) => weights.get(name) ?? shapes.get(name)?.dims ?? [];
  return flow.nodes.map((node) => {
    const out = node.output.reduce((sum, name) => sum + product(shapes.get(name)?.dims ?? [1]), 0);
    if (node.opType === 'Conv' || node.opType === 'ConvTranspose') return out * product(dimsOf(node.input[1]).slice(1));
    if (node.opType === 'MatMul' || node.opType === 'Gemm') {
      const a = dimsOf(node.input[0]);
      const transA = node.opType === 'Gemm' && node.attribute?.some((x) => x.name === 'transA' && toNumber(x.i) === 1);
      return out * ((transA ? a[0] : a[a.length - 1]) ?? 1);
    }
    return out;
  });
}

/** Cut positions (node indices a segment starts at) for `count` segments; fewer where no cut fits. */
export function chooseCuts(flow: GraphFlow, shapes: ValueShapes, costs: number[], count: number): number[] {
  const total = costs.reduce((a, b) => a + b, 0);
  const before = [0];
  for (const cost of costs) before.push(before[before.length - 1] + cost);
  const cuts: number[] = [];
  const half = total / count / 2;
  for (let k = 1; k < count; k++) {
    const target = (k * total) / count;
    let best: { at: number; bytes: number; distance: number } | null = null;
    for (let at = Math.max(1, (cuts[cuts.length - 1] ?? 0) + 1); at < flow.nodes.length; at++) {
      const distance = Math.abs(before[at] - target);
      if (before[at] > target + half) break;
      if (distance > half) continue;
      const carried = crossing(flow, at);
      if (carried.length === 0 || carried.some((name) => !shapes.has(name))) continue;
      const bytes = carried.reduce((sum, name) => sum + (shapes.get(name)?.bytes ?? 0), 0);
      if (!best || bytes < best.bytes || (bytes === best.bytes && distance < best.distance))
        best = { at, bytes, distance };
    }
    if (best) cuts.push(best.at);
  }
  return cuts;
}

const elemType = (dtype: string) =>
  Object.hasOwn(OnnxDataType, dtype) ? OnnxDataType[dtype as OnnxElementType] : OnnxDataType.float32;

/** A carried value's type: dims that differ between the batch-1 and batch-2 probes (or the batch axis) are free. */
function carriedInfo(name: string, one: ValueShapes, two: ValueShapes | null): ValueInfoMessage {
  const shape = one.get(name)!;
  const other = two?.get(name);
  const dim = shape.dims.map((d, i) => (other && other.dims[i] !== d ? { dimParam: `free_${i}` } : { dimValue: d }));
  return { name, type: { tensorType: { elemType: elemType(shape.dtype), shape: { dim } } } };
}

/**
 * The segments for `cuts`: each a model of its node range, the initializers it reads, the graph inputs and
 * carried values it reads as inputs, and as outputs what later segments read or the graph returns.
 */
export function buildSegments(
  model: ModelMessage,
  flow: GraphFlow,
  cuts: number[],
  one: ValueShapes,
  two: ValueShapes | null,
): SegmentPlan[] {
  const bounds = [0, ...cuts, flow.nodes.length];
  const graphInputs = new Map(model.graph.input.map((v) => [v.name, v]));
  const graphOutputs = new Map(model.graph.output.map((v) => [v.name, v]));
  const initializers = new Map(model.graph.initializer.map((t) => [t.name ?? '', t]));
  return bounds.slice(0, -1).map((start, k) => {
    const end = bounds[k + 1];
    const reads = new Set(flow.reads.slice(start, end).flat());
    const made = new Set(flow.nodes.slice(start, end).flatMap((n) => n.output));
    const inputs = [...reads].filter((name) => !made.has(name) && !initializers.has(name));
    const outputs = [...made].filter((name) => name !== '' && (flow.lastRead.get(name) ?? -1) >= end);
    const input = inputs.map((name) => graphInputs.get(name) ?? carriedInfo(name, one, two));
    const output = outputs.map((name) => graphOutputs.get(name) ?? { name });
    const bytes = encodeModel({
      ...model,
      graph: {
        name: `${model.graph.name ?? 'graph'}_segment_${k}`,
        node: flow.nodes.slice(start, end),
        initializer: [...reads].flatMap((name) => (initializers.has(name) ? [initializers.get(name)!] : [])),
        input,
        output,
      },
    });
    const carriedBytes = inputs.reduce(
      (sum, name) => sum + (graphInputs.has(name) ? 0 : (one.get(name)?.bytes ?? 0)),
      0,
    );
    return { start, end, inputs, outputs, carriedBytes, model: bytes };
  });
}
