/**
 * Checks a request against its model's signature before it is queued, so a bad request costs the session
 * nothing: a missing or extra input, a dtype the model cannot take exactly (protocol/dtypes.ts), a shape the
 * model cannot take or with no elements, data that does not match its shape or whose buffer was transferred,
 * or a request over the size limit — each a typed error naming the field.
 *
 * Only then are the inputs admitted into memory the server owns: copied (and widened where the dtype rule
 * says so), so the caller's arrays stay as they were; or, with `transfer: true`, whole buffers are taken
 * without a copy and the caller's arrays are left detached. A refused request never detaches anything.
 */
import { acceptedDTypes, convertDType, firstMisfit, wireDTypeOf } from '../protocol/dtypes.js';
import { Errors } from '../protocol/errors.js';
import type { ModelSignature, TensorSpec } from '../protocol/signature.js';
import {
  elementCount,
  spansBuffer,
  validateWireTensor,
  type NamedTensors,
  type TensorData,
  type WireDType,
  type WireTensor,
} from '../protocol/tensors.js';

/** What callers may pass: named tensors, or one typed array for a single-input model. */
export type InferInputs = NamedTensors | TensorData;

const dtypeOfArray = (data: TensorData): WireDType => {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof Int8Array) return 'int8';
  if (data instanceof Uint16Array) return 'uint16';
  if (data instanceof Int16Array) return 'int16';
  if (data instanceof BigInt64Array) return 'int64';
  if (data instanceof BigUint64Array) return 'uint64';
  if (data instanceof Uint32Array) return 'uint32';
  return 'uint8';
};

function fromTypedArray(data: TensorData, spec: TensorSpec): WireTensor {
  const field = `inputs.${spec.name}`;
  const perItem = elementCount((spec.shape ?? [null]).slice(1).map((d) => d ?? NaN));
  if (!spec.shape || !Number.isFinite(perItem) || perItem === 0 || data.length % perItem !== 0) {
    throw Errors.invalidArgument(
      field,
      `a bare typed array needs a model input of known per-item shape; pass { dtype, shape, data }`,
    );
  }
  return { dtype: dtypeOfArray(data), shape: [data.length / perItem, ...(spec.shape.slice(1) as number[])], data };
}

function checkTensor(spec: TensorSpec, value: unknown): WireTensor {
  const field = `inputs.${spec.name}`;
  const tensor = validateWireTensor(value, field);
  const accepts = acceptedDTypes(spec.dtype);
  if (!accepts.includes(tensor.dtype)) {
    const takes = accepts.length === 0 ? 'no dtype olympian can send' : accepts.join(', ');
    throw Errors.invalidArgument(
      `${field}.dtype`,
      `is ${tensor.dtype}; the model's ${spec.dtype} input takes ${takes} (converted only where every value is exact)`,
    );
  }
  const misfit = firstMisfit(tensor.data, tensor.dtype, spec.dtype);
  if (misfit >= 0)
    throw Errors.invalidArgument(
      `${field}.data[${misfit}]`,
      `is ${tensor.data[misfit]}, which the model's ${spec.dtype} input cannot hold`,
    );
  if (spec.shape) {
    const fits =
      tensor.shape.length === spec.shape.length && spec.shape.every((d, i) => d === null || d === tensor.shape[i]);
    if (!fits) {
      throw Errors.invalidArgument(
        `${field}.shape`,
        `is [${tensor.shape.join(', ')}], the model takes [${spec.shape.map((d) => d ?? '?').join(', ')}]`,
      );
    }
  }
  const empty = tensor.shape.indexOf(0);
  if (empty >= 0)
    throw Errors.invalidArgument(
      `${field}.shape[${empty}]`,
      `is 0: a tensor with no elements cannot be inferred${empty === 0 ? ' (an empty batch)' : ''}`,
    );
  return tensor;
}

/**
 * Whether an input's axis 0 is the batch: free in the signature (or no shape known). A scalar input, or one
 * whose axis 0 is fixed (Silero VAD's state [2, N, 128], a sample rate of rank 0), carries no batch of its own.
 */
const onBatchAxis = (spec: TensorSpec) => !spec.shape || (spec.shape.length > 0 && spec.shape[0] === null);

/** "input s carries" or "inputs state, sr carry": for messages naming the inputs without a batch. */
export const batchlessPhrase = (names: string[]) =>
  names.length > 1 ? `inputs ${names.join(', ')} carry` : `input ${names[0]} carries`;

/** Inputs that carry no batch: requests to such a model can be neither joined into batches nor split. */
export function batchlessInputs(signature: ModelSignature): string[] {
  return signature.inputs.filter((spec) => !onBatchAxis(spec)).map((spec) => spec.name);
}

/**
 * A request of more than maxBatch items runs in pieces of at most maxBatch; a model with inputs that carry no
 * batch cannot have its requests cut so (a piece of Silero VAD's state [2, N, 128] is not [2, n, 128] by
 * slicing), and such a request is refused as the caller's.
 */
export function checkSplittable(signature: ModelSignature, rows: number, maxBatch: number): void {
  const batchless = batchlessInputs(signature);
  const spec = signature.inputs.find(onBatchAxis);
  if (rows <= maxBatch || batchless.length === 0 || !spec) return;
  throw Errors.invalidArgument(
    `inputs.${spec.name}.shape`,
    `has ${rows} items, more than the model's maxBatch ${maxBatch}, and a larger request cannot be split here: ` +
      `${batchlessPhrase(batchless)} no batch`,
  );
}

/** Items in a checked request: the batch its batch-axis inputs share, 1 for a model with no batch axis. */
export function requestRows(signature: ModelSignature, inputs: NamedTensors): number {
  const spec = signature.inputs.find(onBatchAxis);
  return spec ? inputs[spec.name].shape[0] : 1;
}

/** Every input checked, in signature order; nothing is copied or taken yet. */
export function checkRequest(signature: ModelSignature, raw: InferInputs, maxRequestBytes: number): NamedTensors {
  if (ArrayBuffer.isView(raw)) {
    if (signature.inputs.length !== 1)
      throw Errors.invalidArgument('inputs', `must name each of ${signature.inputs.length} inputs`);
    return checkRequest(
      signature,
      { [signature.inputs[0].name]: fromTypedArray(raw as TensorData, signature.inputs[0]) },
      maxRequestBytes,
    );
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw Errors.invalidArgument('inputs', 'must be an object of named tensors');
  // Names come from the caller: looked up as own keys only, so `toString` or `__proto__` is just a name.
  const names = new Set(signature.inputs.map((spec) => spec.name));
  for (const name of Object.keys(raw)) {
    if (!names.has(name)) {
      throw Errors.invalidArgument(
        `inputs.${name}`,
        `is not an input of this model (inputs: ${signature.inputs.map((s) => s.name).join(', ')})`,
      );
    }
  }
  let bytes = 0;
  let batch: number | undefined;
  const checked: [string, WireTensor][] = [];
  for (const spec of signature.inputs) {
    if (!Object.hasOwn(raw, spec.name)) throw Errors.invalidArgument(`inputs.${spec.name}`, 'is missing');
    const tensor = checkTensor(spec, (raw as NamedTensors)[spec.name]);
    bytes += tensor.data.byteLength;
    if (onBatchAxis(spec)) {
      if (batch !== undefined && tensor.shape[0] !== batch)
        throw Errors.invalidArgument(
          `inputs.${spec.name}.shape`,
          `has batch ${tensor.shape[0]}, other inputs ${batch}`,
        );
      batch = tensor.shape[0];
    }
    checked.push([spec.name, tensor]);
  }
  if (bytes > maxRequestBytes)
    throw Errors.tooLarge(
      'inputs',
      `hold ${bytes} bytes of tensor data; the limit is ${maxRequestBytes} (maxRequestBytes)`,
    );
  return Object.fromEntries(checked);
}

/**
 * Checked inputs in buffers the server owns, each in its model's dtype. With `transfer`, a typed array that
 * spans its whole buffer is taken as it is (structuredClone's transfer moves it; the caller's view is left
 * detached); anything else (a view into part of a buffer, a SharedArrayBuffer, a dtype to widen) is copied,
 * so a subarray never costs the caller its parent array.
 */
export function admitInputs(signature: ModelSignature, checked: NamedTensors, transfer: boolean): NamedTensors {
  const owned = new Map<string, WireTensor>();
  const toTake: [string, WireTensor][] = [];
  for (const spec of signature.inputs) {
    const tensor = checked[spec.name];
    const dtype = wireDTypeOf(spec.dtype) ?? tensor.dtype;
    if (dtype === tensor.dtype && transfer && spansBuffer(tensor.data)) {
      toTake.push([spec.name, tensor]);
      continue;
    }
    const data = dtype === tensor.dtype ? tensor.data.slice() : convertDType(tensor.data, tensor.dtype, dtype);
    owned.set(spec.name, { dtype, shape: tensor.shape.slice(), data });
  }
  // Taken last: another input may be a view into a buffer that is about to move, and must be copied first.
  const taken = new Map<ArrayBuffer, ArrayBuffer>();
  for (const [name, tensor] of toTake)
    owned.set(name, { dtype: tensor.dtype, shape: tensor.shape.slice(), data: takeWhole(tensor.data, taken) });
  return Object.fromEntries(signature.inputs.map((spec) => [spec.name, owned.get(spec.name)!]));
}

/** Moves a whole buffer into the server's hands once, however many inputs share it. */
function takeWhole(data: TensorData, taken: Map<ArrayBuffer, ArrayBuffer>): TensorData {
  const from = data.buffer as ArrayBuffer;
  let buffer = taken.get(from);
  if (!buffer) {
    buffer = structuredClone(from, { transfer: [from] });
    taken.set(from, buffer);
  }
  const Type = data.constructor as new (buffer: ArrayBuffer) => TensorData;
  return new Type(buffer);
}
