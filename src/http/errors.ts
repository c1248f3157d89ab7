/**
 * One error shape for every HTTP answer that is not a success, whatever the route or protocol:
 * `{ error, code, field?, model?, requestId }`. `error` is the message, which is the whole of what TF-Serving
 * and KServe clients read (`{"error": "..."}` in both); `code` is olympian's stable code to branch on.
 */
import { ErrorCode, Errors, isOlympianError } from '../protocol/errors.js';

/**
 * Codes only the HTTP front raises: a missing or wrong admin token, an admin request by a Host name that
 * is not loopback when no token is set (a DNS-rebinding page's), and a bug (anything not an
 * OlympianError), which is reported as a 500 rather than dressed up as a retryable 503.
 */
export const HttpErrorCode = {
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  PERMISSION_DENIED: 'PERMISSION_DENIED',
  INTERNAL: 'INTERNAL',
} as const;
export type HttpErrorCode = (typeof HttpErrorCode)[keyof typeof HttpErrorCode];
export type AnyErrorCode = ErrorCode | HttpErrorCode;

export const statusOfCode: Record<AnyErrorCode, number> = {
  INVALID_ARGUMENT: 400,
  INVALID_CONFIG: 400,
  NOT_FOUND: 404,
  TOO_LARGE: 413,
  QUEUE_FULL: 429,
  QUOTA_EXCEEDED: 429,
  // nginx's "client closed request": nobody reads it, but it is what the log and the metrics record.
  CANCELLED: 499,
  MODEL_LOAD_FAILED: 500,
  INTERNAL: 500,
  UNAVAILABLE: 503,
  SESSION_CRASHED: 503,
  BACKEND_UNAVAILABLE: 503,
  DEADLINE_EXCEEDED: 504,
  RESOURCE_EXHAUSTED: 507,
  UNAUTHENTICATED: 401,
  PERMISSION_DENIED: 403,
};

export class HttpError extends Error {
  readonly code: HttpErrorCode;
  readonly field?: string;

  constructor(code: HttpErrorCode, message: string, field?: string) {
    super(message);
    this.name = 'HttpError';
    this.code = code;
    if (field !== undefined) this.field = field;
  }
}

export interface ErrorBody {
  error: string;
  code: AnyErrorCode;
  field?: string;
  /** The public model name, where the error belongs to one. */
  model?: string;
  requestId: string;
}

/** Fastify's own failures (body limit, bad JSON, media type) carry `statusCode` and an `FST_…` code. */
interface FastifyLikeError {
  code?: unknown;
  statusCode?: unknown;
  message?: unknown;
}

function fromFastify(error: FastifyLikeError): { status: number; code: AnyErrorCode; field?: string } | undefined {
  if (typeof error.code !== 'string' || !error.code.startsWith('FST_') || typeof error.statusCode !== 'number')
    return undefined;
  if (error.statusCode === 413) return { status: 413, code: ErrorCode.TOO_LARGE, field: 'body' };
  if (error.statusCode === 415) return { status: 415, code: ErrorCode.INVALID_ARGUMENT, field: 'content-type' };
  if (error.statusCode >= 400 && error.statusCode < 500)
    return { status: 400, code: ErrorCode.INVALID_ARGUMENT, field: 'body' };
  return undefined;
}

/**
 * Internal session names are `<model>.v<version>.<n>`; a client knows the model by its public name, which
 * never contains a dot (see modelNamePattern in model-config.ts).
 */
export const publicModelName = (session: string) => session.split('.')[0];

/** A refused Content-Type or Content-Encoding is HTTP's 415 (Unsupported Media Type), though its code is INVALID_ARGUMENT. */
const mediaFields = new Set(['content-type', 'content-encoding']);

export function errorResponse(error: unknown, requestId: string): { status: number; body: ErrorBody } {
  if (isOlympianError(error)) {
    const body: ErrorBody = { error: error.message, code: error.code, requestId };
    if (error.field !== undefined) body.field = error.field;
    if (error.session !== undefined) body.model = publicModelName(error.session);
    const media = error.code === ErrorCode.INVALID_ARGUMENT && mediaFields.has(error.field ?? '');
    return { status: media ? 415 : (statusOfCode[error.code] ?? 500), body };
  }
  if (error instanceof HttpError) {
    const body: ErrorBody = { error: error.message, code: error.code, requestId };
    if (error.field !== undefined) body.field = error.field;
    return { status: statusOfCode[error.code], body };
  }
  const message = error instanceof Error ? error.message : String(error);
  const fastify = typeof error === 'object' && error !== null ? fromFastify(error as FastifyLikeError) : undefined;
  if (fastify) {
    const body: ErrorBody = { error: message, code: fastify.code, requestId };
    if (fastify.field !== undefined) body.field = fastify.field;
    return { status: fastify.status, body };
  }
  return { status: 500, body: { error: `internal error: ${message}`, code: HttpErrorCode.INTERNAL, requestId } };
}

/** Retry-After for an error that says when a retry can succeed: whole seconds, rounded up, at least 1. */
export function retryAfterHeader(error: unknown): string | undefined {
  if (!isOlympianError(error) || error.retryAfterMs === undefined) return undefined;
  return String(Math.max(1, Math.ceil(error.retryAfterMs / 1000)));
}

/** The error a route that does not exist gets: the same shape as every other. */
export const routeNotFound = (method: string, url: string) =>
  Errors.notFound('route', `${method} ${url.split('?')[0]}`);
