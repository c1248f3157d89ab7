/**
 * The wire codec (msgpackr) for requests, results and errors — the binary path of the HTTP front and any
 * other transport. Tensors are `{ dtype, shape, data }` with `data` a typed array, carried by msgpackr's
 * typed-array extension (decoded into its own aligned buffer). Decoding checks every frame: a truncated
 * frame, wrong types, or data that does not match its shape is an INVALID_ARGUMENT naming the field.
 */
import { Packr } from 'msgpackr';
import { Errors, type ErrorCode, type SerializedError } from './errors.js';
import { validateWireTensor, type NamedTensors } from './tensors.js';

export interface InferRequestMessage {
  type: 'infer';
  id?: string | number;
  model: string;
  inputs: NamedTensors;
  deadlineMs?: number;
  priority?: number;
}

export interface InferResultMessage {
  type: 'result';
  id?: string | number;
  outputs: NamedTensors;
}

export interface ErrorMessage {
  type: 'error';
  id?: string | number;
  error: SerializedError;
}

export type WireMessage = InferRequestMessage | InferResultMessage | ErrorMessage;

const packr = new Packr({ moreTypes: true, useRecords: false });

export function encodeMessage(message: WireMessage): Uint8Array {
  return packr.pack(message);
}

/** A plain map: msgpackr decodes maps to plain objects, and its sentinels (0xC1) to instances of its classes. */
const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && [Object.prototype, null].includes(Object.getPrototypeOf(value));

function checkTensors(value: unknown, field: string): NamedTensors {
  if (!isRecord(value)) throw Errors.invalidArgument(field, 'must be a map of named tensors');
  for (const [name, tensor] of Object.entries(value)) validateWireTensor(tensor, `${field}.${name}`);
  return value as unknown as NamedTensors;
}

function checkId(message: Record<string, unknown>): void {
  if (message.id !== undefined && typeof message.id !== 'string' && typeof message.id !== 'number') {
    throw Errors.invalidArgument('id', 'must be a string or a number');
  }
}

export function decodeMessage(bytes: Uint8Array): WireMessage {
  let message: unknown;
  try {
    message = packr.unpack(bytes);
  } catch (error) {
    throw Errors.invalidArgument('frame', `is not a complete msgpack message (${(error as Error).message})`);
  }
  if (!isRecord(message)) throw Errors.invalidArgument('frame', 'must be a map');
  checkId(message);
  switch (message.type) {
    case 'infer':
      if (typeof message.model !== 'string') throw Errors.invalidArgument('model', 'must be a string');
      if (message.deadlineMs !== undefined && typeof message.deadlineMs !== 'number')
        throw Errors.invalidArgument('deadlineMs', 'must be a number');
      if (message.priority !== undefined && !Number.isSafeInteger(message.priority))
        throw Errors.invalidArgument('priority', 'must be an integer');
      checkTensors(message.inputs, 'inputs');
      return message as unknown as InferRequestMessage;
    case 'result':
      checkTensors(message.outputs, 'outputs');
      return message as unknown as InferResultMessage;
    case 'error': {
      const error = message.error;
      if (!isRecord(error) || typeof error.code !== 'string' || typeof error.message !== 'string') {
        throw Errors.invalidArgument('error', 'must be { code, message }');
      }
      return {
        type: 'error',
        id: message.id as string | number | undefined,
        error: { ...error, code: error.code as ErrorCode, message: error.message },
      };
    }
    default:
      throw Errors.invalidArgument('type', `must be infer, result or error, got ${JSON.stringify(message.type)}`);
  }
}
