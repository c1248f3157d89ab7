/**
 * What a caller may ask of one request besides its inputs: a deadline, a priority, zero-copy; and the check
 * of those asks, each bad one an INVALID_ARGUMENT naming it. Apart from server.ts so that the options and
 * their rules are read together; the inputs have their own checks (inputs.ts).
 */
import { Errors } from '../protocol/errors.js';

export interface InferOptions {
  signal?: AbortSignal;
  /**
   * Give up (DEADLINE_EXCEEDED) if the model has not started within this many ms (default: the model's
   * `deadlineMs`, if any); under predicted admission, also if it is predicted to be answered later.
   */
  deadlineMs?: number;
  /** Order within the session's queue: higher first. */
  priority?: number;
  /**
   * Zero-copy: the server takes the buffers of the input arrays that span a whole buffer, leaving the
   * caller's arrays detached (empty) once `infer` returns. Default false: the inputs are copied and the
   * caller's arrays stay as they were.
   */
  transfer?: boolean;
}

/** The options as `infer` uses them, with their defaults; `deadlineMs` defaults to the model's (`defaultDeadlineMs`). */
export function checkInferOptions(options: InferOptions, defaultDeadlineMs: number | undefined) {
  if (typeof options !== 'object' || options === null) throw Errors.invalidArgument('options', 'must be an object');
  const { deadlineMs = defaultDeadlineMs, priority = 0, transfer = false, signal } = options;
  if (deadlineMs !== undefined && !(Number.isFinite(deadlineMs) && deadlineMs > 0))
    throw Errors.invalidArgument('deadlineMs', 'must be a number > 0');
  if (!Number.isSafeInteger(priority)) throw Errors.invalidArgument('priority', 'must be an integer');
  if (typeof transfer !== 'boolean') throw Errors.invalidArgument('transfer', 'must be true or false');
  return { deadlineMs, priority, transfer, signal };
}
