/**
 * Every error olympian raises carries a stable `code` from this table. Errors cross thread boundaries as
 * plain values (`SerializedError`) and are rebuilt with `fromSerialized`, so a caller on any thread can
 * branch on `code` without parsing messages.
 */
export const ErrorCode = {
  INVALID_ARGUMENT: 'INVALID_ARGUMENT',
  NOT_FOUND: 'NOT_FOUND',
  TOO_LARGE: 'TOO_LARGE',
  QUEUE_FULL: 'QUEUE_FULL',
  DEADLINE_EXCEEDED: 'DEADLINE_EXCEEDED',
  CANCELLED: 'CANCELLED',
  UNAVAILABLE: 'UNAVAILABLE',
  SESSION_CRASHED: 'SESSION_CRASHED',
  RESOURCE_EXHAUSTED: 'RESOURCE_EXHAUSTED',
  QUOTA_EXCEEDED: 'QUOTA_EXCEEDED',
  BACKEND_UNAVAILABLE: 'BACKEND_UNAVAILABLE',
  MODEL_LOAD_FAILED: 'MODEL_LOAD_FAILED',
  INVALID_CONFIG: 'INVALID_CONFIG',
  INTERNAL: 'INTERNAL',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export interface ErrorDetails {
  /** The configuration key or request field at fault, e.g. `sessions[2].weight`. */
  field?: string;
  /** The session the error belongs to, where there is one. */
  session?: string;
  /** When a retry can succeed, ms from now (QUOTA_EXCEEDED: until the model's budget is out of debt). */
  retryAfterMs?: number;
}

export class OlympianError extends Error {
  readonly code: ErrorCode;
  readonly field?: string;
  readonly session?: string;
  readonly retryAfterMs?: number;

  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}) {
    super(message);
    this.name = 'OlympianError';
    this.code = code;
    if (details.field !== undefined) this.field = details.field;
    if (details.session !== undefined) this.session = details.session;
    if (details.retryAfterMs !== undefined) this.retryAfterMs = details.retryAfterMs;
  }
}

export interface SerializedError extends ErrorDetails {
  code: ErrorCode;
  message: string;
}

export function serializeError(error: unknown): SerializedError {
  if (error instanceof OlympianError) {
    const out: SerializedError = { code: error.code, message: error.message };
    if (error.field !== undefined) out.field = error.field;
    if (error.session !== undefined) out.session = error.session;
    if (error.retryAfterMs !== undefined) out.retryAfterMs = error.retryAfterMs;
    return out;
  }
  // Not ours: an unexpected throw is a fault in the model or the server. UNAVAILABLE would tell clients to
  // retry a request that fails the same way every time.
  const message = error instanceof Error ? error.message : String(error);
  return { code: ErrorCode.INTERNAL, message: `internal error: ${message}` };
}

export function fromSerialized(value: SerializedError): OlympianError {
  return new OlympianError(value.code, value.message, value);
}

export function isOlympianError(error: unknown, code?: ErrorCode): error is OlympianError {
  return error instanceof OlympianError && (code === undefined || error.code === code);
}

/** The one place error messages are made (piscina's `Errors` table). */
export const Errors = {
  invalidConfig: (field: string, why: string) =>
    new OlympianError(ErrorCode.INVALID_CONFIG, `invalid configuration: ${field} ${why}`, { field }),
  invalidArgument: (field: string, why: string) =>
    new OlympianError(ErrorCode.INVALID_ARGUMENT, `invalid argument: ${field} ${why}`, { field }),
  notFound: (what: string, name: string) =>
    new OlympianError(ErrorCode.NOT_FOUND, `${what} not found: ${JSON.stringify(name)}`, { field: what }),
  resourceExhausted: (field: string, why: string) =>
    new OlympianError(ErrorCode.RESOURCE_EXHAUSTED, `resource exhausted: ${field} ${why}`, { field }),
  unavailable: (why: string, session?: string) =>
    new OlympianError(ErrorCode.UNAVAILABLE, `unavailable: ${why}`, session === undefined ? {} : { session }),
  /** `source` names the file for the operator; `field` is the configuration key that named the model. */
  modelLoadFailed: (source: string, why: string, field = 'model') =>
    new OlympianError(ErrorCode.MODEL_LOAD_FAILED, `cannot load model from ${source}: ${why}`, { field }),
  /** A profile file that cannot be used as written; `key` is the JSON path inside it (`$` for the whole file). */
  invalidProfile: (file: string, key: string, why: string) =>
    new OlympianError(ErrorCode.INVALID_CONFIG, `invalid profile ${file}: ${key} ${why}`, { field: key }),
  /** The backend runs, but per-kernel costs cannot be measured on it (what is missing is in `why`). */
  backendCannotProfile: (backend: string, why: string) =>
    new OlympianError(ErrorCode.BACKEND_UNAVAILABLE, `backend ${JSON.stringify(backend)} cannot be profiled: ${why}`, {
      field: 'backend',
    }),
  sessionCrashed: (session: string, why: string) =>
    new OlympianError(ErrorCode.SESSION_CRASHED, `session ${JSON.stringify(session)} crashed: ${why}`, { session }),
  tooLarge: (field: string, why: string) =>
    new OlympianError(ErrorCode.TOO_LARGE, `too large: ${field} ${why}`, { field }),
  /** A tensor whose buffer another thread now owns (an earlier transfer), whichever way it got there. */
  detached: (field: string) =>
    new OlympianError(
      ErrorCode.INVALID_ARGUMENT,
      `invalid argument: ${field} was transferred (its ArrayBuffer is detached): pass an array you still own, or leave out { transfer: true } so the server copies it`,
      { field },
    ),
  queueFull: (session: string, depth: number) =>
    new OlympianError(ErrorCode.QUEUE_FULL, `session ${session}: queue is full (${depth})`, {
      session,
      field: 'maxQueue',
    }),
  deadlineExceeded: (session: string, why: string) =>
    new OlympianError(ErrorCode.DEADLINE_EXCEEDED, `session ${session}: ${why}`, { session }),
  /**
   * A model over its device-time budget (`budget`): refused before any queue, retryable once the budget is out
   * of debt. `why` says by how much and at what rate; `retryAfterMs` is when.
   */
  quotaExceeded: (session: string, why: string, retryAfterMs: number) =>
    new OlympianError(
      ErrorCode.QUOTA_EXCEEDED,
      `session ${session} is over its device-time budget: ${why}; retry in ${Math.ceil(retryAfterMs)} ms`,
      { session, field: 'budget', retryAfterMs },
    ),
  cancelled: (session: string) =>
    new OlympianError(ErrorCode.CANCELLED, `session ${session}: the request was cancelled`, { session }),
  /** A copy of `error` that names the session it belongs to (errors from a worker do not know it). */
  inSession: (error: OlympianError, session: string) =>
    error.session
      ? error
      : new OlympianError(error.code, error.message, { field: error.field, session, retryAfterMs: error.retryAfterMs }),
  /** A copy of `error` naming `field` instead (a key as the caller's configuration spells its path). */
  atField: (error: OlympianError, field: string) =>
    new OlympianError(error.code, error.message, { field, session: error.session, retryAfterMs: error.retryAfterMs }),
  backendUnavailable: (backend: string, why: string) =>
    new OlympianError(ErrorCode.BACKEND_UNAVAILABLE, `backend ${JSON.stringify(backend)} is unavailable: ${why}`, {
      field: 'backend',
    }),
  /** An ONNX execution provider this machine cannot run; `field` is `executionProviders[i]`. */
  providerUnavailable: (field: string, provider: string, why: string) =>
    new OlympianError(
      ErrorCode.BACKEND_UNAVAILABLE,
      `execution provider ${JSON.stringify(provider)} is unavailable: ${why}`,
      { field },
    ),
  overMemoryBudget: (session: string, why: string) =>
    new OlympianError(ErrorCode.RESOURCE_EXHAUSTED, `session ${session} needs ${why}`, {
      field: 'memoryBudgetMB',
      session,
    }),
};
