/** A model's signature, the same shape for layers and graph models, for the API and the HTTP metadata. */
export interface TensorSpec {
  /** The key inference takes (inputs) or returns (outputs). */
  name: string;
  /**
   * Null where the model does not say (graph-model outputs without a signature). TF.js models compute in
   * float32, int32 and bool; ONNX models may declare any of the wider and narrower types as well.
   */
  dtype:
    | 'float32'
    | 'int32'
    | 'bool'
    | 'complex64'
    | 'string'
    | 'float16'
    | 'float64'
    | 'int8'
    | 'uint8'
    | 'int16'
    | 'uint16'
    | 'uint32'
    | 'int64'
    | 'uint64'
    | null;
  /** Null for an unknown rank; null entries for free dimensions (the batch, usually). */
  shape: (number | null)[] | null;
}

export interface ModelSignature {
  inputs: TensorSpec[];
  outputs: TensorSpec[];
}
