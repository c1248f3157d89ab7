/**
 * What every value of a graph looks like when it runs: a copy of the model with each node's outputs made
 * graph outputs too (their types left for the runtime to infer), run once on zeros. The shapes say how much
 * memory a run's activations take (the peak of what is alive at once, in the graph's order) and what a cut
 * between two nodes would have to copy; they type a segment's inputs. A probe that fails (an op whose output
 * the runtime cannot return) leaves those estimates to the coarser fallbacks of their callers.
 */
import { fillWarmup } from '../protocol/warmup-inputs.js';
import { encodeModel, type ModelMessage } from './onnx-proto.js';
import type { GraphFlow } from './graph.js';
import { sessionOptions, type Ort, type OrtData, type OrtTensor } from './ort.js';

export interface ValueShape {
  dtype: string;
  dims: number[];
  bytes: number;
}

export type ValueShapes = Map<string, ValueShape>;

/** A batch's warm-up inputs: free dimensions are the batch on axis 0 and 1 elsewhere; every value `fill` (0). */
export interface InputShape {
  name: string;
  dtype: string;
  shape: (number | null)[];
  fill?: number;
}

const arrayFor: Record<string, new (length: number) => OrtData> = {
  float32: Float32Array,
  float64: Float64Array,
  int8: Int8Array,
  uint8: Uint8Array,
  bool: Uint8Array,
  int16: Int16Array,
  uint16: Uint16Array,
  float16: Uint16Array,
  int32: Int32Array,
  uint32: Uint32Array,
  int64: BigInt64Array,
  uint64: BigUint64Array,
};

export function zeroTensor(ort: Ort, input: InputShape, batch: number): OrtTensor {
  const dims = input.shape.map((d, i) => d ?? (i === 0 ? batch : 1));
  const Type = arrayFor[input.dtype] ?? Float32Array;
  const data = fillWarmup(new Type(dims.reduce((a, b) => a * b, 1)), input.dtype, input.fill ?? 0);
  return new ort.Tensor(input.dtype, data, dims);
}

export function probeModel(model: ModelMessage, flow: GraphFlow): Uint8Array {
  const listed = new Set(model.graph.output.map((v) => v.name));
  const extra = flow.nodes.flatMap((node) => node.output).filter((name) => name !== '' && !listed.has(name));
  return encodeModel({
    ...model,
    graph: { ...model.graph, output: [...model.graph.output, ...extra.map((name) => ({ name }))] },
  });
}

/** Every value's dtype, dims and bytes at `batch`, or null if the probe cannot run. */
export async function probeValues(
  ort: Ort,
  bytes: Uint8Array,
  dir: string | undefined,
  inputs: InputShape[],
  batch: number,
): Promise<ValueShapes | null> {
  let session: Awaited<ReturnType<Ort['InferenceSession']['create']>> | null = null;
  const feeds = Object.fromEntries(inputs.map((input) => [input.name, zeroTensor(ort, input, batch)]));
  try {
    session = await ort.InferenceSession.create(bytes, sessionOptions(['cpu'], 1, dir));
    const values = await session.run(feeds);
    const shapes: ValueShapes = new Map();
    for (const [name, tensor] of Object.entries(values)) {
      shapes.set(name, { dtype: tensor.type, dims: [...tensor.dims], bytes: tensor.data.byteLength });
      tensor.dispose();
    }
    for (const [name, tensor] of Object.entries(feeds))
      shapes.set(name, { dtype: tensor.type, dims: [...tensor.dims], bytes: tensor.data.byteLength });
    return shapes;
  } catch {
    return null;
  } finally {
    await session?.release();
  }
}

/**
 * Peak bytes alive at once when the nodes run in `flow`'s order: a value lives from the node that makes it
 * (graph inputs from the start) to the last node that reads it (graph outputs to the end).
 */
export function peakActivationBytes(flow: GraphFlow, shapes: ValueShapes): number {
  let live = flow.inputs.reduce((sum, name) => sum + (shapes.get(name)?.bytes ?? 0), 0);
  let peak = live;
  const endsAt = new Map<number, number>();
  for (const name of flow.inputs) {
    const end = flow.lastRead.get(name) ?? -1;
    endsAt.set(end, (endsAt.get(end) ?? 0) + (shapes.get(name)?.bytes ?? 0));
  }
  flow.nodes.forEach((node, i) => {
    for (const name of node.output) {
      const bytes = shapes.get(name)?.bytes ?? 0;
      live += bytes;
      const end = flow.lastRead.get(name) ?? i;
      endsAt.set(end, (endsAt.get(end) ?? 0) + bytes);
    }
    peak = Math.max(peak, live);
    live -= endsAt.get(i) ?? 0;
  });
  return peak;
}
