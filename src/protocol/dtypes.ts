/**
 * The one rule for the dtype a caller may send for a model input. A model input declares the dtype its
 * engine computes in (`TensorSpec.dtype`). A request may send exactly that, or a narrower type whose every
 * value the model's dtype holds exactly (uint8 pixels for a float32 input, int16 for int32): the server widens
 * those as it copies them in. Anything else is the caller's mistake, refused before any queue with
 * INVALID_ARGUMENT: float64 for float32 would round values, int32 for float32 too (beyond 2^24), and float32
 * for int32 would cut them. An engine that computes in other dtypes adds its rows here.
 */
import type { TensorSpec } from './signature.js';
import type { WireDType } from './tensors.js';

const accepted: Record<string, readonly WireDType[]> = {
  float32: ['float32', 'uint8', 'int8', 'uint16', 'int16'],
  int32: ['int32', 'uint8', 'int8', 'uint16', 'int16'],
  bool: ['bool'],
};

/** Where a model does not declare an input's dtype (rare graph models), TF.js's own dtypes pass unchanged. */
const undeclared: readonly WireDType[] = ['float32', 'int32', 'bool'];

/** The wire dtypes an input of this model dtype takes (empty: none, e.g. string inputs). */
export function acceptedDTypes(modelDType: TensorSpec['dtype']): readonly WireDType[] {
  if (modelDType === null) return undeclared;
  return accepted[modelDType] ?? [];
}

/** The wire dtype a model input's data is held in once admitted: its own dtype, or null where it has none. */
export function wireDTypeOf(modelDType: TensorSpec['dtype']): WireDType | null {
  if (modelDType === null) return null;
  return modelDType in accepted ? (modelDType as WireDType) : null;
}
