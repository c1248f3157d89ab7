/**
 * Writes ONNX models in code, for the tests and benches: a graph of named values, initializers (inline, or in
 * a file beside the model: ONNX's external data) and nodes, encoded with the schema olympian reads
 * (src/onnx/onnx-proto.ts). Only what the fixtures need; shapes are given, never inferred.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import {
  AttributeType,
  encodeModel,
  kExternalLocation,
  OnnxDataType,
  type AttributeMessage,
  type NodeMessage,
  type OnnxElementType,
  type TensorMessage,
  type ValueInfoMessage,
} from '../../src/onnx/onnx-proto.js';

export type Dim = number | string;
export type AttributeValue = number | number[] | string | { floats: number[] } | { float: number };

type Values = Float32Array | Int32Array | BigInt64Array | Uint8Array | Uint16Array | Float64Array | Int8Array;

interface Initializer {
  name: string;
  dtype: OnnxElementType;
  dims: number[];
  bytes: Uint8Array;
  external: boolean;
}

const valueInfo = (name: string, dtype: OnnxElementType, shape: Dim[]): ValueInfoMessage => ({
  name,
  type: {
    tensorType: {
      elemType: OnnxDataType[dtype],
      shape: { dim: shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
    },
  },
});

function attribute(name: string, value: AttributeValue): AttributeMessage {
  if (typeof value === 'string') return { name, type: AttributeType.STRING, s: Buffer.from(value) };
  if (Array.isArray(value)) return { name, type: AttributeType.INTS, ints: value };
  if (typeof value === 'object' && 'floats' in value) return { name, type: AttributeType.FLOATS, floats: value.floats };
  if (typeof value === 'object') return { name, type: AttributeType.FLOAT, f: value.float };
  return { name, type: AttributeType.INT, i: value };
}

export class OnnxGraph {
  readonly #inputs: ValueInfoMessage[] = [];
  readonly #outputs: ValueInfoMessage[] = [];
  readonly #nodes: NodeMessage[] = [];
  readonly #initializers: Initializer[] = [];
  #count = 0;

  constructor(readonly opset = 17) {}

  input(name: string, dtype: OnnxElementType, shape: Dim[]): string {
    this.#inputs.push(valueInfo(name, dtype, shape));
    return name;
  }

  output(name: string, dtype: OnnxElementType, shape: Dim[]): string {
    this.#outputs.push(valueInfo(name, dtype, shape));
    return name;
  }

  /** A constant tensor; `external` keeps its bytes out of the model file (written beside it by `save`). */
  constant(dtype: OnnxElementType, dims: number[], values: Values, options: { external?: boolean } = {}): string {
    const name = `const_${this.#initializers.length}`;
    const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength).slice();
    this.#initializers.push({ name, dtype, dims, bytes, external: options.external ?? false });
    return name;
  }

  /** A node with one output (named unless `name` is given); returns that output's name. */
  node(opType: string, inputs: string[], attributes: Record<string, AttributeValue> = {}, name?: string): string {
    return this.nodeN(opType, inputs, 1, attributes, name ? [name] : undefined)[0];
  }

  nodeN(
    opType: string,
    inputs: string[],
    outputs: number,
    attributes: Record<string, AttributeValue> = {},
    names?: string[],
  ): string[] {
    const index = this.#count++;
    const out = names ?? Array.from({ length: outputs }, (_, i) => `${opType.toLowerCase()}_${index}_${i}`);
    this.#nodes.push({
      name: `${opType}_${index}`,
      opType,
      input: inputs,
      output: out,
      attribute: Object.entries(attributes).map(([key, value]) => attribute(key, value)),
    });
    return out;
  }

  /** The model's bytes; initializers marked external point at `dataFile` (their bytes are `save`'s to write). */
  encode(dataFile = 'model.onnx.data'): { model: Uint8Array; data: Uint8Array | null } {
    let offset = 0;
    const chunks: Uint8Array[] = [];
    const initializer: TensorMessage[] = this.#initializers.map((init) => {
      const tensor: TensorMessage = { name: init.name, dims: init.dims, dataType: OnnxDataType[init.dtype] };
      if (!init.external) return { ...tensor, rawData: init.bytes };
      // Aligned as the ONNX spec recommends (and its own tools write), so the runtime may map the file.
      const padding = (4096 - (offset % 4096)) % 4096;
      chunks.push(new Uint8Array(padding), init.bytes);
      offset += padding;
      const entry = {
        ...tensor,
        dataLocation: kExternalLocation,
        externalData: [
          { key: 'location', value: dataFile },
          { key: 'offset', value: String(offset) },
          { key: 'length', value: String(init.bytes.byteLength) },
        ],
      };
      offset += init.bytes.byteLength;
      return entry;
    });
    const model = encodeModel({
      irVersion: 8,
      producerName: 'olympian-tests',
      opsetImport: [{ domain: '', version: this.opset }],
      graph: {
        name: 'graph',
        node: this.#nodes,
        initializer,
        input: this.#inputs,
        output: this.#outputs,
      },
    });
    return { model, data: chunks.length > 0 ? Buffer.concat(chunks) : null };
  }

  /** Writes `path` (and its external data file beside it, when there is one); returns `path`. */
  async save(path: string): Promise<string> {
    const dataFile = `${path.split('/').pop()}.data`;
    const { model, data } = this.encode(dataFile);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, model);
    if (data) await writeFile(join(dirname(path), dataFile), data);
    return path;
  }
}

/** Seeded uniform values in [-scale, scale): the same seed gives the same weights. */
export function seededFloats(count: number, seed: number, scale = 0.1): Float32Array {
  const out = new Float32Array(count);
  let state = seed >>> 0 || 1;
  for (let i = 0; i < count; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    out[i] = ((state >>> 0) / 2 ** 32 - 0.5) * 2 * scale;
  }
  return out;
}
