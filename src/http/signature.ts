/** A model signature's dtypes as the HTTP front feeds them, and as TF-Serving and KServe spell them. */
import { wireDTypeOf } from '../protocol/dtypes.js';
import { Errors } from '../protocol/errors.js';
import type { TensorSpec } from '../protocol/signature.js';
import type { WireDType } from '../protocol/tensors.js';

/**
 * The wire dtype a JSON value for this input becomes: the model's own (the dtype rule of protocol/dtypes.ts),
 * float32 where the model does not say; an input no wire dtype holds (strings) is refused.
 */
export function inputDType(spec: TensorSpec, field: string): WireDType {
  if (spec.dtype === null) return 'float32';
  const dtype = wireDTypeOf(spec.dtype);
  if (dtype === null)
    throw Errors.invalidArgument(field, `is a ${spec.dtype} input, which olympian does not feed over HTTP`);
  return dtype;
}

const tfDTypes: Record<string, string> = {
  float32: 'DT_FLOAT',
  int32: 'DT_INT32',
  bool: 'DT_BOOL',
  string: 'DT_STRING',
  complex64: 'DT_COMPLEX64',
  float64: 'DT_DOUBLE',
  uint8: 'DT_UINT8',
  int8: 'DT_INT8',
  uint16: 'DT_UINT16',
  int16: 'DT_INT16',
  int64: 'DT_INT64',
  uint32: 'DT_UINT32',
  uint64: 'DT_UINT64',
  float16: 'DT_HALF',
};

export const tfDType = (dtype: string | null) =>
  dtype !== null && Object.hasOwn(tfDTypes, dtype) ? tfDTypes[dtype] : 'DT_INVALID';

/** KServe (Open Inference Protocol) datatypes for what the server returns or declares. */
const v2DTypes: Record<string, string> = {
  float32: 'FP32',
  float64: 'FP64',
  int32: 'INT32',
  int16: 'INT16',
  int8: 'INT8',
  uint16: 'UINT16',
  uint8: 'UINT8',
  bool: 'BOOL',
  int64: 'INT64',
  uint32: 'UINT32',
  uint64: 'UINT64',
  float16: 'FP16',
  string: 'BYTES',
  complex64: 'COMPLEX64',
};

export const v2DType = (dtype: string | null) =>
  dtype === null ? 'FP32' : Object.hasOwn(v2DTypes, dtype) ? v2DTypes[dtype] : 'BYTES';

/**
 * A KServe datatype as the wire dtype its values are held in: its own. What a model input takes of them (a
 * float32 input FP16 too, an int32 input INT64 value by value) is the dtype rule's (protocol/dtypes.ts).
 */
const fromV2: Record<string, WireDType> = {
  FP32: 'float32',
  FP64: 'float64',
  FP16: 'float16',
  INT32: 'int32',
  INT16: 'int16',
  INT8: 'int8',
  UINT16: 'uint16',
  UINT8: 'uint8',
  BOOL: 'bool',
  INT64: 'int64',
  UINT32: 'uint32',
  UINT64: 'uint64',
};

export function wireFromV2(datatype: unknown, field: string): WireDType {
  const dtype = typeof datatype === 'string' && Object.hasOwn(fromV2, datatype) ? fromV2[datatype] : undefined;
  if (!dtype)
    throw Errors.invalidArgument(
      field,
      `must be one of ${Object.keys(fromV2).join(', ')}, got ${JSON.stringify(datatype)}`,
    );
  return dtype;
}

/** Bytes per element of a KServe datatype in the binary tensor extension (0: not accepted as binary). */
export const v2BinaryBytes: Record<string, number> = {
  FP32: 4,
  FP64: 8,
  FP16: 2,
  INT32: 4,
  INT16: 2,
  INT8: 1,
  UINT16: 2,
  UINT8: 1,
  BOOL: 1,
  INT64: 8,
  UINT32: 4,
  UINT64: 8,
};

/** Shapes with free dimensions as -1, the spelling both protocols use. */
export const specShape = (spec: TensorSpec): number[] => (spec.shape ?? []).map((d) => d ?? -1);
