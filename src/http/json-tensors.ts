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
import { floatToHalf, halfToFloat } from '../protocol/float16.js';
import { arrayTypeOf, elementCount, type TensorData, type WireDType, type WireTensor } from '../protocol/tensors.js';

export type Dims = readonly (number | null)[] | null;

/** Integer ranges; int64 and uint64 stop at 2^53, past which a JSON number is no longer exact. */
const intRange: Partial<Record<WireDType, [number, number]>> = {
  int32: [-(2 ** 31), 2 ** 31 - 1],
  int16: [-(2 ** 15), 2 ** 15 - 1],
  int8: [-128, 127],
  uint16: [0, 2 ** 16 - 1],
  uint8: [0, 255],
  uint32: [0, 2 ** 32 - 1],
  int64: [-Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  uint64: [0, Number.MAX_SAFE_INTEGER],
};

const isBig = (dtype: WireDType) => dtype === 'int64' || dtype === 'uint64';

/** How a checked number is stored: as a bigint for 64-bit integers, as its 16 bits for float16. */
const storeAs = (dtype: WireDType): ((value: number) => number | bigint) | null =>
  isBig(dtype) ? BigInt : dtype === 'float16' ? floatToHalf : null;

/** A typed array of any wire dtype, written one value at a time. */
type Writable = TensorData & {
  [index: number]: number | bigint;
  set(values: ArrayLike<number | bigint>, offset?: number): void;
};

export const isB64 = (value: unknown): value is { b64: string } =>
  typeof value === 'object' &&
  value !== null &&
  !Array.isArray(value) &&
  Object.hasOwn(value, 'b64') &&
  Object.keys(value).length === 1 &&
  typeof (value as { b64?: unknown }).b64 === 'string';

/** A plain JSON object that is not a b64 value: a map of named tensors. */
export const isNamedMap = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value) && !isB64(value);

/** A leaf checked against the dtype, as the number stored; `at` names it only when it is refused. */
function leaf(value: unknown, dtype: WireDType, at: () => string): number {
  if (dtype === 'bool') {
    if (typeof value === 'boolean') return value ? 1 : 0;
    if (value === 0 || value === 1) return value;
    throw Errors.invalidArgument(at(), `must be true or false, got ${JSON.stringify(value)}`);
  }
  if (typeof value !== 'number') {
    const hint = typeof value === 'string' ? ' (strings are not tensors here; binary data goes in {"b64": ...})' : '';
    throw Errors.invalidArgument(at(), `must be a number, got ${JSON.stringify(value)?.slice(0, 40)}${hint}`);
  }
  const range = intRange[dtype];
  if (range && !(Number.isInteger(value) && value >= range[0] && value <= range[1])) {
    const exactness = isBig(dtype) ? ' (JSON numbers are exact to 2^53; send wider values as binary data)' : '';
    throw Errors.invalidArgument(
      at(),
      `must be an integer from ${range[0]} to ${range[1]} for ${dtype}, got ${value}${exactness}`,
    );
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
    throw Errors.invalidArgument(
      path,
      `holds ${count} values; the model expects a block of shape [${rest.map((d) => d ?? '?').join(', ')}] here`,
    );
  }
  return rest.map((d) => d ?? count / known);
}

/** A tensor has at most this many dimensions; deeper nesting is refused before it is walked. */
export const kMaxRank = 32;

/**
 * A nested JSON value as a tensor of `dtype`. `expected` is the shape the model takes at this point (used
 * only to size b64 blocks; the model's own check comes later, in the server).
 *
 * Three passes, none building a string or an array per value, so that a large body costs the event loop
 * little beyond JSON.parse:
 *   1. the shape, from the first element at each depth — iterative, and refused past kMaxRank, since the
 *      depth is the client's to choose;
 *   2. every node checked against that shape (rectangular, leaves of the dtype); a place is spelt out
 *      (`instances[2].image[0][1]`) only for the one refused;
 *   3. the values written into a typed array of the checked size — allocated only after pass 2, so a
 *      small body claiming a huge shape allocates nothing.
 */
export function tensorFromJson(value: unknown, dtype: WireDType, path: string, expected: Dims = null): WireTensor {
  const dims: number[] = [];
  let first = value;
  while (Array.isArray(first)) {
    if (dims.length === kMaxRank)
      throw Errors.invalidArgument(
        path,
        `is nested more than ${kMaxRank} deep (a tensor has at most ${kMaxRank} dimensions)`,
      );
    dims.push(first.length);
    if (first.length === 0) break;
    first = first[0];
  }
  const depth = dims.length;
  const index = new Array<number>(depth).fill(0);
  const at = (upTo: number) => () =>
    path +
    index
      .slice(0, upTo)
      .map((i) => `[${i}]`)
      .join('');
  // The leaves are numbers, b64 blocks of `block` dimensions, or absent (some dimension is 0).
  const empty = depth > 0 && dims[depth - 1] === 0;
  const block =
    !empty && isB64(first)
      ? b64Dims(expected, depth, decodeB64(first.b64, dtype, at(depth)()).length, at(depth)())
      : null;
  const rank = depth + (block?.length ?? 0);
  const blocks: TensorData[] = [];

  // Plain float leaves need only be numbers: the innermost lists are checked in a loop of their own.
  const plainNumbers = block === null && intRange[dtype] === undefined && dtype !== 'bool';
  const check = (node: unknown, level: number): void => {
    if (level < depth) {
      if (!Array.isArray(node))
        throw Errors.invalidArgument(at(level)(), `is nested ${level} deep where its siblings are nested ${rank} deep`);
      if (node.length !== dims[level])
        throw Errors.invalidArgument(
          at(level)(),
          `has ${node.length} elements where its siblings have ${dims[level]} (ragged)`,
        );
      if (plainNumbers && level === depth - 1) {
        for (let i = 0; i < node.length; i++) {
          if (typeof node[i] === 'number') continue;
          index[level] = i;
          check(node[i], depth);
        }
        return;
      }
      for (let i = 0; i < node.length; i++) {
        index[level] = i;
        check(node[i], level + 1);
      }
      return;
    }
    if (Array.isArray(node)) throw Errors.invalidArgument(at(level)(), 'is nested deeper than its siblings');
    if (block === null) {
      leaf(node, dtype, at(level));
      return;
    }
    if (!isB64(node))
      throw Errors.invalidArgument(at(level)(), `is nested ${level} deep where its siblings are nested ${rank} deep`);
    const data = decodeB64(node.b64, dtype, at(level)());
    const dimsHere = b64Dims(expected, depth, data.length, at(level)());
    if (dimsHere.some((d, k) => d !== block[k]))
      throw Errors.invalidArgument(
        at(level)(),
        `holds a block of shape [${dimsHere.join(', ')}] where its siblings hold [${block.join(', ')}]`,
      );
    blocks.push(data);
  };
  check(value, 0);

  const shape = block === null ? dims : [...dims, ...block];
  const data = new (arrayTypeOf(dtype))(empty ? 0 : elementCount(shape)) as Writable;
  const store = storeAs(dtype);
  if (block !== null) {
    blocks.forEach((b, i) => data.set(b as Writable, i * b.length));
  } else if (!empty) {
    // Booleans as 0/1; every other leaf is by now a number in range (a typed array coerces true to 1 too).
    let offset = 0;
    const fill = (node: unknown, level: number): void => {
      if (level === depth) {
        data[offset++] = store ? store(Number(node)) : (node as number);
        return;
      }
      const items = node as number[];
      if (level === depth - 1 && store === null) {
        data.set(items, offset);
        offset += items.length;
      } else if (level === depth - 1) {
        for (let i = 0; i < items.length; i++) data[offset++] = store!(Number(items[i]));
      } else {
        for (let i = 0; i < items.length; i++) fill(items[i], level + 1);
      }
    };
    fill(value, 0);
  }
  return { dtype, shape, data };
}

/** Rows of equal shape stacked on a new batch axis. */
export function stackRows(rows: WireTensor[], path: string): WireTensor {
  const first = rows[0];
  const rowSize = first.data.length;
  const data = new (arrayTypeOf(first.dtype))(rows.length * rowSize) as Writable;
  rows.forEach((row, i) => {
    if (row.shape.length !== first.shape.length || row.shape.some((d, k) => d !== first.shape[k])) {
      throw Errors.invalidArgument(
        `${path}[${i}]`,
        `has shape [${row.shape.join(', ')}] where instance 0 has [${first.shape.join(', ')}]`,
      );
    }
    data.set(row.data as Writable, i * rowSize);
  });
  return { dtype: first.dtype, shape: [rows.length, ...first.shape], data };
}

/** Reshapes a flat or nested `data` to a declared shape (KServe): only the element count must agree. */
export function reshape(tensor: WireTensor, shape: number[], path: string): WireTensor {
  if (elementCount(shape) !== tensor.data.length) {
    throw Errors.invalidArgument(
      path,
      `has ${tensor.data.length} elements but shape [${shape.join(', ')}] needs ${elementCount(shape)}`,
    );
  }
  return { ...tensor, shape };
}

/**
 * A stored value as a JSON one: booleans for bool, the number a float16's bits stand for, and 64-bit
 * integers as numbers where exact — a value past 2^53 has no exact JSON spelling, so the answer is refused
 * naming the output (`field`), pointing to the binary formats, rather than sent rounded.
 */
function jsonValue(dtype: WireDType, field: string): (v: number | bigint) => number | boolean {
  if (dtype === 'bool') return (v) => v !== 0;
  if (dtype === 'float16') return (v) => halfToFloat(v as number);
  if (!isBig(dtype)) return (v) => v as number;
  return (v) => {
    const value = Number(v);
    if (Number.isSafeInteger(value)) return value;
    throw Errors.invalidArgument(
      field,
      `holds ${v}, an ${dtype} value JSON cannot carry exactly (past 2^53): ask for binary data (KServe's binary_data_output), msgpack or gRPC`,
    );
  };
}

/** The tensor as nested arrays (NaN and ±Infinity become null, as JSON has no spelling for them). */
export function toNested(
  tensor: WireTensor,
  offset = 0,
  dims: readonly number[] = tensor.shape,
  field = 'outputs',
): unknown {
  const convert = jsonValue(tensor.dtype, field);
  if (dims.length === 0) return convert(tensor.data[offset]);
  const stride = elementCount(dims.slice(1));
  const out = new Array(dims[0]);
  for (let i = 0; i < dims[0]; i++) out[i] = toNested(tensor, offset + i * stride, dims.slice(1), field);
  return out;
}

/** The tensor flattened in row-major order (KServe's `data`); `field` names it if it cannot be written. */
export function toFlat(tensor: WireTensor, field = 'outputs'): unknown[] {
  return Array.from(tensor.data as ArrayLike<number | bigint>, jsonValue(tensor.dtype, field));
}

/** One entry per item on the batch axis: nested values, or `{ b64 }` of the row's bytes for `_bytes` outputs. */
export function rowsOf(tensor: WireTensor, name: string): unknown[] {
  const [batch = 1, ...rest] = tensor.shape;
  const size = elementCount(rest);
  return Array.from({ length: batch }, (_, i) => {
    if (!name.endsWith('_bytes')) return toNested(tensor, i * size, rest, `outputs.${name}`);
    const row = tensor.data.subarray(i * size, (i + 1) * size);
    return { b64: Buffer.from(row.buffer, row.byteOffset, row.byteLength).toString('base64') };
  });
}

/** A whole tensor for TF-Serving's columnar answer, in the same spelling as rowsOf. */
export function columnOf(tensor: WireTensor, name: string): unknown {
  if (!name.endsWith('_bytes')) return toNested(tensor, 0, tensor.shape, `outputs.${name}`);
  return { b64: Buffer.from(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength).toString('base64') };
}
