/**
 * TensorFlow's TensorProto to and from olympian's tensors. Each dtype olympian takes is read as the KServe
 * datatype with the same values (values.ts holds the rules), from `tensor_content` (raw little-endian bytes)
 * or from the typed list the dtype's values go in; a list of one value fills the shape (the proto's
 * version-0 rule). A tensor with no shape is a scalar. Fields are named from the request's map, e.g.
 * `inputs.a.float_val[3]` or `inputs.a.tensor_shape.dim[0]`.
 */
import { tfDType, wireFromV2 } from '../http/signature.js';
import { Errors } from '../protocol/errors.js';
import type { WireTensor } from '../protocol/tensors.js';
import { checkShape, rawOf, tensorFromRaw, tensorFromValues, valuesOf } from './values.js';

interface TypedLists {
  float_val: number[];
  double_val: number[];
  int_val: number[];
  int64_val: number[];
  bool_val: boolean[];
  half_val: number[];
  uint32_val: number[];
  uint64_val: number[];
}

export interface TensorProto extends TypedLists {
  dtype: string;
  tensor_shape: { dim: Array<{ size: number; name: string }>; unknown_rank: boolean } | null;
  version_number: number;
  tensor_content: Buffer;
}

/** The dtypes olympian takes: the KServe datatype each is read as, and the list its values go in. */
const tfTypes: Record<string, { datatype: string; list: keyof TypedLists }> = {
  DT_FLOAT: { datatype: 'FP32', list: 'float_val' },
  DT_DOUBLE: { datatype: 'FP64', list: 'double_val' },
  DT_HALF: { datatype: 'FP16', list: 'half_val' },
  DT_INT32: { datatype: 'INT32', list: 'int_val' },
  DT_INT16: { datatype: 'INT16', list: 'int_val' },
  DT_INT8: { datatype: 'INT8', list: 'int_val' },
  DT_UINT8: { datatype: 'UINT8', list: 'int_val' },
  DT_UINT16: { datatype: 'UINT16', list: 'int_val' },
  DT_BOOL: { datatype: 'BOOL', list: 'bool_val' },
  DT_INT64: { datatype: 'INT64', list: 'int64_val' },
  DT_UINT32: { datatype: 'UINT32', list: 'uint32_val' },
  DT_UINT64: { datatype: 'UINT64', list: 'uint64_val' },
};

const listKeys = Object.keys({
  float_val: 0,
  double_val: 0,
  int_val: 0,
  int64_val: 0,
  bool_val: 0,
  half_val: 0,
  uint32_val: 0,
  uint64_val: 0,
} satisfies Record<keyof TypedLists, 0>) as Array<keyof TypedLists>;

/** A request's tensor, and whether its values came as tensor_content. */
export function tensorFromProto(proto: TensorProto, field: string): { tensor: WireTensor; raw: boolean } {
  const type = Object.hasOwn(tfTypes, proto.dtype) ? tfTypes[proto.dtype] : undefined;
  if (!type)
    throw Errors.invalidArgument(
      `${field}.dtype`,
      `must be one of ${Object.keys(tfTypes).join(', ')}, got ${JSON.stringify(proto.dtype)}`,
    );
  if (proto.tensor_shape?.unknown_rank)
    throw Errors.invalidArgument(`${field}.tensor_shape.unknown_rank`, "must be false: a request's tensor has a shape");
  const shape = checkShape(
    (proto.tensor_shape?.dim ?? []).map((d) => d.size),
    `${field}.tensor_shape.dim`,
  );
  const dtype = wireFromV2(type.datatype, `${field}.dtype`);
  const filled = listKeys.filter((key) => proto[key].length > 0);
  if (proto.tensor_content.byteLength > 0) {
    if (filled.length > 0)
      throw Errors.invalidArgument(`${field}.${filled[0]}`, 'must be empty when tensor_content holds the values');
    return {
      tensor: tensorFromRaw(proto.tensor_content, type.datatype, dtype, shape, `${field}.tensor_content`),
      raw: true,
    };
  }
  const stray = filled.find((key) => key !== type.list);
  if (stray) throw Errors.invalidArgument(`${field}.${stray}`, `is not where ${proto.dtype} values go (${type.list})`);
  return {
    tensor: tensorFromValues(proto[type.list], type.datatype, dtype, shape, `${field}.${type.list}`, true),
    raw: false,
  };
}

/** The list each of olympian's own dtypes answers in. */
const answerList: Record<WireTensor['dtype'], keyof TypedLists> = {
  float32: 'float_val',
  float64: 'double_val',
  int32: 'int_val',
  int16: 'int_val',
  int8: 'int_val',
  uint8: 'int_val',
  uint16: 'int_val',
  bool: 'bool_val',
  float16: 'half_val',
  uint32: 'uint32_val',
  int64: 'int64_val',
  uint64: 'uint64_val',
};

/** An answer's tensor: its values as tensor_content when `raw`, else in its dtype's list. */
export function tensorToProto(tensor: WireTensor, raw: boolean): Partial<TensorProto> {
  const proto: Partial<TensorProto> = {
    dtype: tfDType(tensor.dtype),
    tensor_shape: { dim: tensor.shape.map((size) => ({ size, name: '' })), unknown_rank: false },
  };
  if (raw) proto.tensor_content = rawOf(tensor);
  else (proto as Record<string, unknown>)[answerList[tensor.dtype]] = valuesOf(tensor);
  return proto;
}
