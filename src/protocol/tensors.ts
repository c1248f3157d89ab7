/**
 * Tensors on the wire and across threads: `{ dtype, shape, data }` with `data` a typed array. Between the
 * server's threads a tensor's buffer is transferred, never copied: the server copies a caller's arrays into
 * buffers of its own first (or takes them, with `transfer: true`; see server/inputs.ts).
 */
import { Errors } from './errors.js';

export const dtypes = [
  'float32',
  'int32',
  'bool',
  'uint8',
  'int8',
  'uint16',
  'int16',
  'float64',
  'int64',
  'uint32',
  'uint64',
  'float16',
] as const;
export type WireDType = (typeof dtypes)[number];

/** float16 values travel as their 16 bits (a Uint16Array: Node 20 has no Float16Array; see float16.ts). */
export type TensorData =
  | Float32Array
  | Int32Array
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Float64Array
  | BigInt64Array
  | Uint32Array
  | BigUint64Array;

export interface WireTensor {
  dtype: WireDType;
  shape: number[];
  data: TensorData;
}

export type NamedTensors = Record<string, WireTensor>;

const arrayTypes: Record<WireDType, new (length: number) => TensorData> = {
  float32: Float32Array,
  int32: Int32Array,
  bool: Uint8Array,
  uint8: Uint8Array,
  int8: Int8Array,
  uint16: Uint16Array,
  int16: Int16Array,
  float64: Float64Array,
  int64: BigInt64Array,
  uint32: Uint32Array,
  uint64: BigUint64Array,
  float16: Uint16Array,
};

export function arrayTypeOf(dtype: WireDType): new (length: number) => TensorData {
  return arrayTypes[dtype];
}

export const elementCount = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** Items on the batch axis: the first dimension of the (first) input; 1 for scalars. */
export function batchSizeOf(tensors: NamedTensors): number {
  for (const name in tensors) return tensors[name].shape[0] ?? 1;
  return 1;
}

/**
 * Whether another thread owns this buffer now. Node 20 has no `ArrayBuffer.prototype.detached`; a detached
 * buffer reads as empty, and only a detached one refuses a view.
 */
export function isDetached(buffer: ArrayBufferLike): boolean {
  if (buffer.byteLength !== 0 || !(buffer instanceof ArrayBuffer)) return false;
  try {
    new Uint8Array(buffer);
    return false;
  } catch {
    return true;
  }
}

/** Checks one tensor's own consistency; `field` names it in errors (e.g. `inputs.image`). */
export function validateWireTensor(value: unknown, field: string): WireTensor {
  if (typeof value !== 'object' || value === null)
    throw Errors.invalidArgument(field, 'must be a tensor { dtype, shape, data }');
  const { dtype, shape, data } = value as Partial<WireTensor>;
  if (typeof dtype !== 'string' || !(dtype in arrayTypes)) {
    throw Errors.invalidArgument(`${field}.dtype`, `must be one of ${dtypes.join(', ')}, got ${JSON.stringify(dtype)}`);
  }
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw Errors.invalidArgument(`${field}.shape`, 'must be an array of non-negative integers');
  }
  if (!(data instanceof arrayTypes[dtype as WireDType])) {
    throw Errors.invalidArgument(
      `${field}.data`,
      `must be a ${arrayTypes[dtype as WireDType].name} for dtype ${dtype}`,
    );
  }
  if (isDetached(data.buffer)) throw Errors.detached(`${field}.data`);
  if (data.length !== elementCount(shape)) {
    throw Errors.invalidArgument(
      `${field}.data`,
      `has ${data.length} elements but shape [${shape.join(', ')}] needs ${elementCount(shape)}`,
    );
  }
  return value as WireTensor;
}

/** The buffers to transfer with a set of tensors (each once, even if shared). */
export function transferablesOf(tensors: NamedTensors): ArrayBuffer[] {
  const buffers = new Set<ArrayBuffer>();
  for (const tensor of Object.values(tensors)) {
    if (tensor.data.buffer instanceof ArrayBuffer) buffers.add(tensor.data.buffer);
  }
  return [...buffers];
}

/** Whether a typed array spans the whole of its buffer, which can then move between threads as it is. */
export const spansBuffer = (data: TensorData) =>
  data.buffer instanceof ArrayBuffer && data.byteOffset === 0 && data.byteLength === data.buffer.byteLength;
