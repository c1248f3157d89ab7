/**
 * A model's signature in one shape for layers and graph models, and the input check `predict` runs
 * against it, so a wrong name, dtype or shape is an INVALID_ARGUMENT naming the input instead of an error
 * from deep inside TF.js.
 */
import type * as tf from '../device/tfjs.js';
import { Errors } from '../protocol/errors.js';

export type { ModelSignature, TensorSpec } from '../protocol/signature.js';
import type { ModelSignature, TensorSpec } from '../protocol/signature.js';

export type NamedTensors = Record<string, tf.Tensor>;

export function normaliseShape(shape: readonly (number | null)[] | undefined | null): (number | null)[] | null {
  if (shape == null) return null;
  return shape.map((d) => (d === null || d < 0 ? null : d));
}

const TF_DTYPES: Record<string, tf.DataType> = {
  DT_FLOAT: 'float32',
  DT_INT32: 'int32',
  DT_BOOL: 'bool',
  DT_STRING: 'string',
  DT_COMPLEX64: 'complex64',
  // TF.js computes in int32/float32 only; the converter maps these the same way.
  DT_INT64: 'int32',
  DT_INT16: 'int32',
  DT_INT8: 'int32',
  DT_UINT8: 'int32',
  DT_HALF: 'float32',
  DT_DOUBLE: 'float32',
};

/** A graph-model `signature` entry: `{ name, dtype: 'DT_FLOAT', tensorShape: { dim: [{ size }], unknownRank } }`. */
export function specFromTensorInfo(key: string, info: unknown): TensorSpec {
  const entry = (info ?? {}) as {
    dtype?: string;
    tensorShape?: { dim?: { size?: string | number }[]; unknownRank?: boolean };
  };
  const dims = entry.tensorShape?.unknownRank ? null : (entry.tensorShape?.dim ?? []).map((d) => Number(d.size ?? -1));
  return { name: key, dtype: (entry.dtype && TF_DTYPES[entry.dtype]) || null, shape: normaliseShape(dims) };
}

export function checkInputs(signature: ModelSignature, inputs: NamedTensors): void {
  for (const name of Object.keys(inputs)) {
    if (!signature.inputs.some((s) => s.name === name)) {
      throw Errors.invalidArgument(
        `inputs.${name}`,
        `is not an input of this model (inputs: ${signature.inputs.map((s) => s.name).join(', ')})`,
      );
    }
  }
  for (const spec of signature.inputs) {
    const tensor = inputs[spec.name];
    const field = `inputs.${spec.name}`;
    if (tensor === undefined) throw Errors.invalidArgument(field, 'is missing');
    if (spec.dtype !== null && tensor.dtype !== spec.dtype) {
      throw Errors.invalidArgument(field, `has dtype ${tensor.dtype}, the model takes ${spec.dtype}`);
    }
    if (spec.shape === null) continue;
    const fits = tensor.rank === spec.shape.length && spec.shape.every((d, i) => d === null || d === tensor.shape[i]);
    if (!fits) {
      const want = `[${spec.shape.map((d) => d ?? '?').join(', ')}]`;
      throw Errors.invalidArgument(field, `has shape [${tensor.shape.join(', ')}], the model takes ${want}`);
    }
  }
}
