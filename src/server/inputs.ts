/**
 * Checks a request against its model's signature before it is queued, so a bad request costs the session
 * nothing: a missing or extra input, a wrong dtype, a shape the model cannot take, data that does not match
 * its shape, or a request over the size limit — each a typed error naming the field.
 */
import { ErrorCode, Errors, OlympianError } from '../protocol/errors.js';
import type { ModelSignature, TensorSpec } from '../protocol/signature.js';
import { elementCount, validateWireTensor, type NamedTensors, type TensorData, type WireDType, type WireTensor } from '../protocol/tensors.js';

/** What callers may pass: named tensors, or one typed array for a single-input model. */
export type InferInputs = NamedTensors | TensorData;

const dtypeOfArray = (data: TensorData): WireDType => {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof Int8Array) return 'int8';
  if (data instanceof Uint16Array) return 'uint16';
  if (data instanceof Int16Array) return 'int16';
  return 'uint8';
};

/** TF.js computes in float32, int32 and bool: which wire dtypes each can take. */
const accepts: Record<string, WireDType[]> = {
  float32: ['float32', 'float64'],
  int32: ['int32', 'int16', 'int8', 'uint16', 'uint8'],
  bool: ['bool', 'uint8'],
};

function fromTypedArray(data: TensorData, spec: TensorSpec): WireTensor {
  const field = `inputs.${spec.name}`;
  const perItem = elementCount((spec.shape ?? [null]).slice(1).map((d) => d ?? NaN));
  if (!spec.shape || !Number.isFinite(perItem) || perItem === 0 || data.length % perItem !== 0) {
    throw Errors.invalidArgument(field, `a bare typed array needs a model input of known per-item shape; pass { dtype, shape, data }`);
  }
  return { dtype: dtypeOfArray(data), shape: [data.length / perItem, ...(spec.shape.slice(1) as number[])], data };
}

export function checkRequest(signature: ModelSignature, raw: InferInputs, maxRequestBytes: number): NamedTensors {
  if (ArrayBuffer.isView(raw)) {
    if (signature.inputs.length !== 1) throw Errors.invalidArgument('inputs', `must name each of ${signature.inputs.length} inputs`);
    return checkRequest(signature, { [signature.inputs[0].name]: fromTypedArray(raw as TensorData, signature.inputs[0]) }, maxRequestBytes);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw Errors.invalidArgument('inputs', 'must be an object of named tensors');
  for (const name of Object.keys(raw)) {
    if (!signature.inputs.some((spec) => spec.name === name)) {
      throw Errors.invalidArgument(`inputs.${name}`, `is not an input of this model (inputs: ${signature.inputs.map((s) => s.name).join(', ')})`);
    }
  }
  let bytes = 0;
  let batch: number | undefined;
  for (const spec of signature.inputs) {
    const field = `inputs.${spec.name}`;
    if (!(spec.name in raw)) throw Errors.invalidArgument(field, 'is missing');
    const tensor = validateWireTensor(raw[spec.name], field);
    bytes += tensor.data.byteLength;
    if (spec.dtype && !(accepts[spec.dtype] ?? [spec.dtype]).includes(tensor.dtype)) {
      throw Errors.invalidArgument(`${field}.dtype`, `is ${tensor.dtype}, the model takes ${spec.dtype}`);
    }
    if (spec.shape) {
      const fits = tensor.shape.length === spec.shape.length && spec.shape.every((d, i) => d === null || d === tensor.shape[i]);
      if (!fits) {
        throw Errors.invalidArgument(`${field}.shape`, `is [${tensor.shape.join(', ')}], the model takes [${spec.shape.map((d) => d ?? '?').join(', ')}]`);
      }
    }
    if (batch !== undefined && tensor.shape[0] !== batch) throw Errors.invalidArgument(`${field}.shape`, `has batch ${tensor.shape[0]}, other inputs ${batch}`);
    batch = tensor.shape[0];
  }
  if (bytes > maxRequestBytes) {
    throw new OlympianError(ErrorCode.TOO_LARGE, `request too large: ${bytes} bytes of tensor data, the limit is ${maxRequestBytes}`, { field: 'inputs' });
  }
  return raw as NamedTensors;
}
