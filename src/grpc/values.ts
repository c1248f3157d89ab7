/**
 * Tensors from what both gRPC protocols carry: a shape, a datatype, and the values either as a typed list
 * (KServe's `contents`, TensorProto's `*_val`) or as raw little-endian bytes (KServe's `raw_*_contents`,
 * TensorProto's `tensor_content`). Datatypes are KServe's names; tf-tensors.ts maps TF's dtypes onto them.
 * A tensor keeps its datatype (INT64 as int64, FP16 as float16's bits); what a model input takes of it is the
 * dtype rule's (protocol/dtypes.ts), as over HTTP. Typed 64-bit integers arrive as JS numbers, exact to 2^53:
 * wider ones are refused (raw contents carry every value). Every refusal names the field and, for a value, its
 * index; nothing is allocated before the counts agree, so a small message claiming a huge shape costs nothing.
 */
import { decodeBinaryTensor, tensorBytes } from '../http/kserve-binary.js';
import { kMaxRank } from '../http/json-tensors.js';
import { v2BinaryBytes } from '../http/signature.js';
import { Errors } from '../protocol/errors.js';
import { arrayTypeOf, elementCount, type WireDType, type WireTensor } from '../protocol/tensors.js';

/** Integer datatypes, with the range a value may take (64-bit ones: what a JS number holds exactly). */
const intRanges: Record<string, [number, number]> = {
  INT8: [-128, 127],
  INT16: [-(2 ** 15), 2 ** 15 - 1],
  INT32: [-(2 ** 31), 2 ** 31 - 1],
  UINT8: [0, 255],
  UINT16: [0, 2 ** 16 - 1],
  UINT32: [0, 2 ** 32 - 1],
  INT64: [-Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  UINT64: [0, Number.MAX_SAFE_INTEGER],
};
const wide = new Set(['INT64', 'UINT64']);

/** A typed array of any wire dtype, written one value at a time. */
type Writable = { [index: number]: number | bigint; length: number; fill(value: number | bigint): unknown };

/** A message's shape as dimensions: non-negative safe integers, at most kMaxRank of them. */
export function checkShape(dims: readonly unknown[], field: string): number[] {
  if (dims.length > kMaxRank)
    throw Errors.invalidArgument(field, `has ${dims.length} dimensions; a tensor has at most ${kMaxRank}`);
  dims.forEach((d, i) => {
    if (!Number.isSafeInteger(d) || (d as number) < 0)
      throw Errors.invalidArgument(`${field}[${i}]`, `must be a size >= 0, got ${String(d)}`);
  });
  return dims as number[];
}

/**
 * A typed value list as a tensor. `broadcast`: a list of one value fills the whole shape (TensorProto's rule
 * for version 0); otherwise the list must hold exactly one value per element.
 */
export function tensorFromValues(
  values: ArrayLike<number | boolean>,
  datatype: string,
  dtype: WireDType,
  shape: number[],
  field: string,
  broadcast = false,
): WireTensor {
  const count = elementCount(shape);
  const fill = broadcast && values.length === 1 && count > 1;
  if (values.length !== count && !fill) {
    throw Errors.invalidArgument(
      field,
      `has ${values.length} values; shape [${shape.join(', ')}] needs ${count}${broadcast ? ' (or one, to fill it)' : ''}`,
    );
  }
  const data = new (arrayTypeOf(dtype))(count);
  const out = data as unknown as Writable;
  const range = Object.hasOwn(intRanges, datatype) ? intRanges[datatype] : undefined;
  if (!range && datatype !== 'FP16') {
    // Floats and booleans need no check: a decoded message holds numbers (and booleans, which set() makes 0/1).
    (data as Float32Array).set(values as ArrayLike<number>);
    if (fill) out.fill(out[0]);
    return { dtype, shape, data };
  }
  const big = wide.has(datatype);
  for (let i = 0; i < values.length; i++) {
    const value = Number(values[i]);
    if (range && !(Number.isInteger(value) && value >= range[0] && value <= range[1])) {
      const why = big ? ' (typed contents are exact to 2^53; send wider values as raw contents)' : '';
      throw Errors.invalidArgument(
        `${field}[${i}]`,
        `must be an integer from ${range[0]} to ${range[1]} for ${datatype}${why}, got ${value}`,
      );
    }
    if (datatype === 'FP16' && !(Number.isInteger(value) && value >= 0 && value <= 0xffff)) {
      throw Errors.invalidArgument(
        `${field}[${i}]`,
        `must hold a half-precision value's 16 bits (0 to 65535), got ${value}`,
      );
    }
    out[i] = big ? BigInt(value) : value;
  }
  if (fill) out.fill(out[0]);
  return { dtype, shape, data };
}

/** Raw little-endian bytes as a tensor: exactly one element's bytes per element of the shape. */
export function tensorFromRaw(
  bytes: Buffer,
  datatype: string,
  dtype: WireDType,
  shape: number[],
  field: string,
): WireTensor {
  const size = datatype === 'FP16' ? 2 : Object.hasOwn(v2BinaryBytes, datatype) ? v2BinaryBytes[datatype] : 0;
  if (size === 0) throw Errors.invalidArgument(field, `cannot hold ${datatype} values`);
  const count = elementCount(shape);
  if (bytes.byteLength !== count * size) {
    throw Errors.invalidArgument(
      field,
      `is ${bytes.byteLength} bytes; shape [${shape.join(', ')}] of ${datatype} needs ${count * size}`,
    );
  }
  return decodeBinaryTensor(bytes, datatype, dtype, shape, field);
}

/**
 * A tensor's values as a plain list, for a typed answer: booleans for bool, float16's bits as numbers (TF's
 * half_val), 64-bit integers as numbers where exact and as decimal strings past 2^53 (protobufjs writes those
 * exactly), numbers otherwise.
 */
export function valuesOf(tensor: WireTensor): Array<number | boolean | string> {
  const data = tensor.data as ArrayLike<number | bigint>;
  if (tensor.dtype === 'bool') return Array.from(data, (v) => v !== 0);
  if (tensor.dtype === 'int64' || tensor.dtype === 'uint64')
    return Array.from(data, (v) => (Number.isSafeInteger(Number(v)) ? Number(v) : String(v)));
  return Array.from(data as ArrayLike<number>);
}

/** A tensor's bytes, for a raw answer. */
export const rawOf = tensorBytes;
