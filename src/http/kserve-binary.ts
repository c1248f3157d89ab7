/**
 * KServe's (and Triton's) binary tensor data extension: the body is a JSON header of
 * `Inference-Header-Content-Length` bytes followed by raw tensors, each little-endian, row-major, unpadded,
 * in the order of the inputs that declare `parameters.binary_data_size`. Answers use the same layout for
 * the outputs asked for with `binary_data: true` (or all of them with `binary_data_output: true`).
 */
import { Errors } from '../protocol/errors.js';
export { halfToFloat } from '../protocol/float16.js';
import { arrayTypeOf, type TensorData, type WireDType, type WireTensor } from '../protocol/tensors.js';
import { v2BinaryBytes } from './signature.js';

export const kInferenceHeaderLength = 'inference-header-content-length';

/** A request body in binary mode: its JSON header and the bytes after it. */
export class BinaryBody {
  constructor(
    readonly header: unknown,
    readonly binary: Buffer,
  ) {}
}

/** `maxHeaderBytes`: the JSON header is parsed as any JSON body is, and held to the same limit. */
export function splitBinaryBody(body: Buffer, headerLength: string, maxHeaderBytes: number): BinaryBody {
  const length = Number(headerLength);
  if (!/^\d+$/.test(headerLength.trim()) || length > body.byteLength) {
    throw Errors.invalidArgument(
      kInferenceHeaderLength,
      `must be a byte count no larger than the body (${body.byteLength}), got ${JSON.stringify(headerLength)}`,
    );
  }
  if (length > maxHeaderBytes) {
    throw Errors.tooLarge(
      kInferenceHeaderLength,
      `says the JSON header is ${length} bytes, over limits.jsonBodyBytes (${maxHeaderBytes}); tensors go in the binary part`,
    );
  }
  let header: unknown;
  try {
    header = JSON.parse(body.subarray(0, length).toString('utf8'));
  } catch (error) {
    throw Errors.invalidArgument('body', `the JSON header is not valid JSON (${(error as Error).message})`);
  }
  return new BinaryBody(header, body.subarray(length));
}

/** One input's bytes as a tensor of the shape it declares. */
export function decodeBinaryTensor(
  bytes: Buffer,
  datatype: string,
  dtype: WireDType,
  shape: number[],
  path: string,
): WireTensor {
  const size = Object.hasOwn(v2BinaryBytes, datatype) ? v2BinaryBytes[datatype] : 0;
  const count = shape.reduce((a, b) => a * b, 1);
  if (size === 0) throw Errors.invalidArgument(`${path}.datatype`, `${datatype} cannot be sent as binary data here`);
  if (bytes.byteLength !== count * size) {
    throw Errors.invalidArgument(
      `${path}.parameters.binary_data_size`,
      `is ${bytes.byteLength} bytes; shape [${shape.join(', ')}] of ${datatype} needs ${count * size}`,
    );
  }
  // A copy: the body's bytes may start at an offset a typed array cannot.
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  const data = new (arrayTypeOf(dtype) as unknown as new (b: ArrayBuffer) => TensorData)(buffer);
  return { dtype, shape, data };
}

/** The raw bytes of an output for a binary answer. */
export const tensorBytes = (tensor: WireTensor): Buffer =>
  Buffer.from(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength);

/** Header JSON then the blobs; the caller sets Inference-Header-Content-Length to `headerLength`. */
export function binaryAnswer(header: object, blobs: Buffer[]): { body: Buffer; headerLength: number } {
  const json = Buffer.from(JSON.stringify(header));
  return { body: Buffer.concat([json, ...blobs]), headerLength: json.byteLength };
}
