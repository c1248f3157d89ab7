/**
 * Tensors as JSON: nested arrays (TF-Serving's row and columnar formats, KServe's `data`) to and from
 * `{ dtype, shape, data }`. A nested value must be rectangular; every leaf is checked against the dtype
 * (an int32 input takes integers in range, a bool input booleans or 0/1) and each failure names its path,
 * e.g. `instances[2].image[0][1]`.
 *
 * `{"b64": "..."}`: TF-Serving's binary values are strings, and TF.js models take no string tensors, so here
 * a b64 value is the raw little-endian bytes of the block of the tensor it stands in for: where the
 * signature says that block's shape (at most one dimension left free, inferred from the byte count).
 */
import { Errors } from '../protocol/errors.js';
import { arrayTypeOf, elementCount, type TensorData, type WireDType, type WireTensor } from '../protocol/tensors.js';

export type Dims = readonly (number | null)[] | null;

const intRange: Partial<Record<WireDType, [number, number]>> = {
  int32: [-(2 ** 31), 2 ** 31 - 1],
  int16: [-(2 ** 15), 2 ** 15 - 1],
  int8: [-128, 127],
  uint16: [0, 2 ** 16 - 1],
  uint8: [0, 255],
};

export const isB64 = (value: unknown): value is { b64: string } =>
  typeof value === 'object' && value !== null && !Array.isArray(value) && Object.keys(value).length === 1 && typeof (value as { b64?: unknown }).b64 === 'string';

/** A plain JSON object that is not a b64 value: a map of named tensors. */
export const isNamedMap = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value) && !isB64(value);

function leaf(value: unknown, dtype: WireDType, path: string): number {
  if (dtype === 'bool') {
    if (typeof value === 'boolean') return value ? 1 : 0;
    if (value === 0 || value === 1) return value;
    throw Errors.invalidArgument(path, `must be true or false, got ${JSON.stringify(value)}`);
  }
  if (typeof value !== 'number') {
    const hint = typeof value === 'string' ? ' (strings are not tensors here; binary data goes in {"b64": ...})' : '';
    throw Errors.invalidArgument(path, `must be a number, got ${JSON.stringify(value)?.slice(0, 40)}${hint}`);
  }
  const range = intRange[dtype];
  if (range && !(Number.isInteger(value) && value >= range[0] && value <= range[1])) {
    throw Errors.invalidArgument(path, `must be an integer from ${range[0]} to ${range[1]} for ${dtype}, got ${value}`);
  }
  return value;
}

function decodeB64(text: string, dtype: WireDType, path: string): TensorData {
  const bytes = Buffer.from(text, 'base64');
  const Type = arrayTypeOf(dtype) as unknown as { BYTES_PER_ELEMENT: number; new (buffer: ArrayBuffer): TensorData };
  if (bytes.byteLength % Type.BYTES_PER_ELEMENT !== 0) {
    throw Errors.invalidArgument(path, `holds ${bytes.byteLength} bytes, not a whole number of ${dtype} values`);
  }
  // Copied into a buffer of its own: the decoded bytes may sit at an offset a typed array cannot start at.
  return new Type(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
}

/** The dimensions a b64 block fills from `depth` on, with at most one free one taken from its length. */
function b64Dims(expected: Dims, depth: number, count: number, path: string): number[] {
  if (expected === null) return [count];
  const rest = expected.slice(depth);
  const free = rest.filter((d) => d === null).length;
  const known = rest.reduce<number>((a, d) => a * (d ?? 1), 1);
  if (free > 1 || (free === 1 && (known === 0 || count % known !== 0)) || (free === 0 && known !== count)) {
    throw Errors.invalidArgument(path, `holds ${count} values; the model expects a block of shape [${rest.map((d) => d ?? '?').join(', ')}] here`);
  }
  return rest.map((d) => d ?? count / known);
}

/**
 * A nested JSON value as a tensor of `dtype`. `expected` is the shape the model takes at this point (used
 * only to size b64 blocks; the model's own check comes later, in the server).
 */
export function tensorFromJson(value: unknown, dtype: WireDType, path: string, expected: Dims = null): WireTensor {
  const dims: number[] = [];
  let rank: number | undefined;
  const values: number[] = [];
  const setRank = (depth: number, at: string) => {
    if (rank === undefined) rank = depth;
    else if (rank !== depth) throw Errors.invalidArgument(at, `is nested ${depth} deep where its siblings are nested ${rank} deep`);
  };
  const setDim = (depth: number, size: number, at: string) => {
    if (rank !== undefined && depth >= rank) throw Errors.invalidArgument(at, `is nested deeper than its siblings`);
    if (dims[depth] === undefined) dims[depth] = size;
    else if (dims[depth] !== size) throw Errors.invalidArgument(at, `has ${size} elements where its siblings have ${dims[depth]} (ragged)`);
  };
  const walk = (node: unknown, depth: number, at: string): void => {
    if (Array.isArray(node)) {
      setDim(depth, node.length, at);
      for (let i = 0; i < node.length; i++) walk(node[i], depth + 1, `${at}[${i}]`);
      return;
    }
    if (isB64(node)) {
      const data = decodeB64(node.b64, dtype, at);
      const block = b64Dims(expected, depth, data.length, at);
      block.forEach((size, k) => setDim(depth + k, size, at));
      setRank(depth + block.length, at);
      for (let i = 0; i < data.length; i++) values.push(data[i]);
      return;
    }
    setRank(depth, at);
    values.push(leaf(node, dtype, at));
  };
  walk(value, 0, path);
  // Only empty arrays below some depth: the shape ends there.
  const shape = dims.slice(0, rank ?? dims.length);
  const data = new (arrayTypeOf(dtype))(values.length);
  data.set(values);
  return { dtype, shape, data };
}

/** Rows of equal shape stacked on a new batch axis. */
export function stackRows(rows: WireTensor[], path: string): WireTensor {
  const first = rows[0];
  const rowSize = first.data.length;
  const data = new (arrayTypeOf(first.dtype))(rows.length * rowSize);
  rows.forEach((row, i) => {
    if (row.shape.length !== first.shape.length || row.shape.some((d, k) => d !== first.shape[k])) {
      throw Errors.invalidArgument(`${path}[${i}]`, `has shape [${row.shape.join(', ')}] where instance 0 has [${first.shape.join(', ')}]`);
    }
    data.set(row.data, i * rowSize);
  });
  return { dtype: first.dtype, shape: [rows.length, ...first.shape], data };
}

/** Reshapes a flat or nested `data` to a declared shape (KServe): only the element count must agree. */
export function reshape(tensor: WireTensor, shape: number[], path: string): WireTensor {
  if (elementCount(shape) !== tensor.data.length) {
    throw Errors.invalidArgument(path, `has ${tensor.data.length} elements but shape [${shape.join(', ')}] needs ${elementCount(shape)}`);
  }
  return { ...tensor, shape };
}

const jsonValue = (dtype: WireDType): ((v: number) => number | boolean) => (dtype === 'bool' ? (v) => v !== 0 : (v) => v);

/** The tensor as nested arrays (NaN and ±Infinity become null, as JSON has no spelling for them). */
export function toNested(tensor: WireTensor, offset = 0, dims: readonly number[] = tensor.shape): unknown {
  const convert = jsonValue(tensor.dtype);
  if (dims.length === 0) return convert(tensor.data[offset]);
  const stride = elementCount(dims.slice(1));
  const out = new Array(dims[0]);
  for (let i = 0; i < dims[0]; i++) out[i] = toNested(tensor, offset + i * stride, dims.slice(1));
  return out;
}

/** The tensor flattened in row-major order (KServe's `data`). */
export function toFlat(tensor: WireTensor): unknown[] {
  return Array.from(tensor.data as ArrayLike<number>, jsonValue(tensor.dtype));
}

/** One entry per item on the batch axis: nested values, or `{ b64 }` of the row's bytes for `_bytes` outputs. */
export function rowsOf(tensor: WireTensor, name: string): unknown[] {
  const [batch = 1, ...rest] = tensor.shape;
  const size = elementCount(rest);
  return Array.from({ length: batch }, (_, i) => {
    if (!name.endsWith('_bytes')) return toNested(tensor, i * size, rest);
    const row = tensor.data.subarray(i * size, (i + 1) * size);
    return { b64: Buffer.from(row.buffer, row.byteOffset, row.byteLength).toString('base64') };
  });
}

/** A whole tensor for TF-Serving's columnar answer, in the same spelling as rowsOf. */
export function columnOf(tensor: WireTensor, name: string): unknown {
  if (!name.endsWith('_bytes')) return toNested(tensor);
  return { b64: Buffer.from(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength).toString('base64') };
}
