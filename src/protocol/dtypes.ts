/**
 * The one rule for the dtype a caller may send for a model input. A model input declares the dtype its
 * engine computes in (`TensorSpec.dtype`: float32, int32 and bool for TF.js; any of the table's for ONNX). A
 * request may send exactly that, or a type whose every value the model's dtype holds exactly (uint8 pixels for
 * a float32 input, int32 for int64, float16 for float32): the server widens those as it copies them in.
 * Integers wider than the input (int64, uint32 and uint64 for an int32 input: what HTTP and gRPC clients send
 * for TF.js models) are taken value by value, each checked to fit, so a value that would change is refused
 * with its index. Anything else is the caller's mistake, refused before any queue with INVALID_ARGUMENT:
 * float64 for float32 would round values, int32 for float32 too (beyond 2^24), and float32 for int32 would cut
 * them.
 */
import { floatToHalf, halfToFloat } from './float16.js';
import type { TensorSpec } from './signature.js';
import { arrayTypeOf, type TensorData, type WireDType } from './tensors.js';

type ModelDType = Exclude<TensorSpec['dtype'], null>;

/** Exact: every value of each listed wire dtype is a value of the model's dtype. */
const exact: Partial<Record<ModelDType, readonly WireDType[]>> = {
  float32: ['float32', 'float16', 'uint8', 'int8', 'uint16', 'int16'],
  int32: ['int32', 'uint8', 'int8', 'uint16', 'int16'],
  bool: ['bool'],
  float16: ['float16', 'uint8', 'int8'],
  float64: ['float64', 'float32', 'float16', 'int32', 'uint32', 'uint8', 'int8', 'uint16', 'int16'],
  int64: ['int64', 'int32', 'uint32', 'uint8', 'int8', 'uint16', 'int16'],
  uint64: ['uint64', 'uint32', 'uint8', 'uint16'],
  uint32: ['uint32', 'uint8', 'uint16'],
  int16: ['int16', 'int8', 'uint8'],
  uint16: ['uint16', 'uint8'],
  int8: ['int8'],
  uint8: ['uint8'],
};

/** Checked: taken value by value, each refused unless it fits the model's dtype. */
const checked: Partial<Record<ModelDType, readonly WireDType[]>> = {
  int32: ['int64', 'uint32', 'uint64'],
  int64: ['uint64'],
};

/** Where a model does not declare an input's dtype (rare graph models), TF.js's own dtypes pass unchanged. */
const undeclared: readonly WireDType[] = ['float32', 'int32', 'bool'];

/** The wire dtypes an input of this model dtype takes (empty: none, e.g. string inputs). */
export function acceptedDTypes(modelDType: TensorSpec['dtype']): readonly WireDType[] {
  if (modelDType === null) return undeclared;
  return [...(exact[modelDType] ?? []), ...(checked[modelDType] ?? [])];
}

/** The wire dtype a model input's data is held in once admitted: its own dtype, or null where it has none. */
export function wireDTypeOf(modelDType: TensorSpec['dtype']): WireDType | null {
  if (modelDType === null) return null;
  return modelDType in exact ? (modelDType as WireDType) : null;
}

const ranges: Partial<Record<WireDType, [bigint, bigint]>> = {
  int32: [-(2n ** 31n), 2n ** 31n - 1n],
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
};

/**
 * The index of the first value that does not fit `to` when `from` is a checked row, else -1 (an exact row
 * always fits). Run before anything is copied, so a refused request costs no allocation.
 */
export function firstMisfit(data: TensorData, from: WireDType, to: TensorSpec['dtype']): number {
  if (to === null || !(checked[to] ?? []).includes(from)) return -1;
  const [min, max] = ranges[to as WireDType]!;
  for (let i = 0; i < data.length; i++) {
    const value = BigInt(data[i]);
    if (value < min || value > max) return i;
  }
  return -1;
}

const isBig = (dtype: WireDType) => dtype === 'int64' || dtype === 'uint64';

/** `data` (of wire dtype `from`) as a new array of `to`, value for value; the rule above has admitted it. */
export function convertDType(data: TensorData, from: WireDType, to: WireDType): TensorData {
  const out = new (arrayTypeOf(to))(data.length);
  const read: (i: number) => number | bigint =
    from === 'float16' ? (i) => halfToFloat(data[i] as number) : (i) => data[i];
  const write: (value: number | bigint) => number | bigint = isBig(to)
    ? (value) => BigInt(value)
    : to === 'float16'
      ? (value) => floatToHalf(Number(value))
      : (value) => Number(value);
  for (let i = 0; i < data.length; i++) (out as { [i: number]: number | bigint })[i] = write(read(i));
  return out;
}
