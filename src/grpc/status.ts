/**
 * A failed call's gRPC status: the code from the table below, the error's message, and gRPC's rich error
 * model in the `grpc-status-details-bin` trailer — a google.rpc.Status with the same code and message whose
 * details are
 *   1. a google.rpc.ErrorInfo, always: `reason` is olympian's stable code (QUEUE_FULL, TOO_LARGE, ...),
 *      `domain` "olympian", `metadata` the field at fault and the model, where there are;
 *   2. a google.rpc.BadRequest naming the field, when the request is at fault (INVALID_ARGUMENT, NOT_FOUND,
 *      TOO_LARGE), so that a client's generic error handling shows which field to fix;
 *   3. a google.rpc.RetryInfo, when the error says when a retry can succeed (QUOTA_EXCEEDED: the model's
 *      budget is out of debt then), which gRPC clients' retry logic reads as the delay to wait.
 * Messages and fields name files relative to their roots, as every HTTP answer does (paths.ts).
 */
import { Metadata, status as GrpcStatus, type ServerErrorResponse } from '@grpc/grpc-js';
import { publicModelName } from '../http/errors.js';
import { ErrorCode, isOlympianError } from '../protocol/errors.js';
import { packAny, type Protos } from './protos.js';

export const kStatusDetailsKey = 'grpc-status-details-bin';
export const kErrorDomain = 'olympian';

/**
 * Each code's gRPC status. Two need a word:
 *   1. UNAVAILABLE is the server closing (retry elsewhere) only while it closes; otherwise it comes from a
 *      model that is not ready (its thread restarting, no version loaded), which is FAILED_PRECONDITION.
 *   2. QUEUE_FULL, QUOTA_EXCEEDED and TOO_LARGE are RESOURCE_EXHAUSTED, as gRPC spells all "out of room":
 *      ErrorInfo's reason tells them apart (retry later, retry after RetryInfo's delay, or send less).
 */
export const grpcStatusOfCode: Record<ErrorCode, GrpcStatus> = {
  INVALID_ARGUMENT: GrpcStatus.INVALID_ARGUMENT,
  INVALID_CONFIG: GrpcStatus.INVALID_ARGUMENT,
  NOT_FOUND: GrpcStatus.NOT_FOUND,
  TOO_LARGE: GrpcStatus.RESOURCE_EXHAUSTED,
  QUEUE_FULL: GrpcStatus.RESOURCE_EXHAUSTED,
  QUOTA_EXCEEDED: GrpcStatus.RESOURCE_EXHAUSTED,
  DEADLINE_EXCEEDED: GrpcStatus.DEADLINE_EXCEEDED,
  CANCELLED: GrpcStatus.CANCELLED,
  UNAVAILABLE: GrpcStatus.UNAVAILABLE,
  SESSION_CRASHED: GrpcStatus.UNAVAILABLE,
  RESOURCE_EXHAUSTED: GrpcStatus.RESOURCE_EXHAUSTED,
  BACKEND_UNAVAILABLE: GrpcStatus.FAILED_PRECONDITION,
  MODEL_LOAD_FAILED: GrpcStatus.INTERNAL,
  INTERNAL: GrpcStatus.INTERNAL,
};

const callerFault = new Set<string>([ErrorCode.INVALID_ARGUMENT, ErrorCode.NOT_FOUND, ErrorCode.TOO_LARGE]);

export interface StatusContext {
  /** Whether the server has begun to close (rule 1). */
  closing: boolean;
  redact(text: string): string;
}

/** What a failure is, in olympian's terms, before it becomes a status. */
export interface Failure {
  status: GrpcStatus;
  code: string;
  message: string;
  field?: string;
  model?: string;
  retryAfterMs?: number;
}

export function describeFailure(error: unknown, { closing, redact }: StatusContext): Failure {
  if (!isOlympianError(error)) {
    const message = error instanceof Error ? error.message : String(error);
    return { status: GrpcStatus.INTERNAL, code: ErrorCode.INTERNAL, message: redact(`internal error: ${message}`) };
  }
  let status = grpcStatusOfCode[error.code] ?? GrpcStatus.INTERNAL;
  if (error.code === ErrorCode.UNAVAILABLE && !closing) status = GrpcStatus.FAILED_PRECONDITION;
  const failure: Failure = { status, code: error.code, message: redact(error.message) };
  if (error.field !== undefined) failure.field = redact(error.field);
  if (error.session !== undefined) failure.model = publicModelName(error.session);
  if (error.retryAfterMs !== undefined) failure.retryAfterMs = error.retryAfterMs;
  return failure;
}

/** The trailer's google.rpc.Status, encoded. */
export function statusDetails(protos: Protos, failure: Failure): Buffer {
  const metadata: Record<string, string> = {};
  if (failure.field !== undefined) metadata.field = failure.field;
  if (failure.model !== undefined) metadata.model = failure.model;
  const details = [
    packAny(protos.root, 'google.rpc.ErrorInfo', { reason: failure.code, domain: kErrorDomain, metadata }),
  ];
  if (failure.field !== undefined && callerFault.has(failure.code)) {
    details.push(
      packAny(protos.root, 'google.rpc.BadRequest', {
        field_violations: [{ field: failure.field, description: failure.message }],
      }),
    );
  }
  if (failure.retryAfterMs !== undefined) {
    const ms = Math.max(0, Math.ceil(failure.retryAfterMs));
    const retry_delay = { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 };
    details.push(packAny(protos.root, 'google.rpc.RetryInfo', { retry_delay }));
  }
  const type = protos.root.lookupType('google.rpc.Status');
  const bytes = type.encode(type.fromObject({ code: failure.status, message: failure.message, details })).finish();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** The error a grpc-js handler answers with. */
export function serviceError(protos: Protos, failure: Failure): ServerErrorResponse {
  const metadata = new Metadata();
  metadata.set(kStatusDetailsKey, statusDetails(protos, failure));
  return Object.assign(new Error(failure.message), { code: failure.status, details: failure.message, metadata });
}
