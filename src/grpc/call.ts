/**
 * What every gRPC handler shares, the counterpart of the HTTP front's infer.ts:
 *   1. a call counts as in flight from its start until its answer is handed to grpc-js, so that a shutdown
 *      can wait for the answers it owes;
 *   2. while the server closes, readiness and health still answer (a probe must see "not ready"); every other
 *      call is UNAVAILABLE, so that it goes to another replica;
 *   3. the call's deadline (grpc-timeout) is the request's: an inference that cannot start before it is
 *      DEADLINE_EXCEEDED and never runs late; `x-olympian-deadline-ms` and KServe's `timeout` parameter can
 *      only shorten it;
 *   4. a call the client cancels aborts its inference, which leaves the queue (CANCELLED), as an HTTP
 *      hang-up does;
 *   5. `x-olympian-priority` metadata sets the request's priority, over any in the message;
 *   6. the client's `x-request-id` (or a fresh one) goes back in the response headers and the log;
 *   7. every failure is answered with its status and details (status.ts); a message that does not decode
 *      is INVALID_ARGUMENT (field `request`).
 */
import { randomUUID } from 'node:crypto';
import { Metadata, type handleUnaryCall, type ServerUnaryCall } from '@grpc/grpc-js';
import {
  kDeadlineHeader,
  kPriorityHeader,
  kRequestIdHeader,
  parseDeadlineMs,
  parsePriority,
  type HttpContext,
} from '../http/infer.js';
import type { ServedVersion } from '../http/model-versions.js';
import { ErrorCode, Errors, isOlympianError } from '../protocol/errors.js';
import type { NamedTensors } from '../protocol/tensors.js';
import { MalformedMessage, type Protos } from './protos.js';
import { describeFailure, serviceError } from './status.js';

/** The subset of a pino logger the gRPC front writes to. */
export interface GrpcLog {
  info(details: object, message: string): void;
  error(details: object, message: string): void;
}

export interface GrpcContext extends HttpContext {
  protos: Protos;
  calls: CallTracker;
  log: GrpcLog;
}

/** Unary calls not yet answered (rule 1). */
export class CallTracker {
  #open = 0;
  #waiters: Array<() => void> = [];

  get open(): number {
    return this.#open;
  }

  /** Returns what ends the call. */
  begin(): () => void {
    this.#open++;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      if (--this.#open === 0) for (const wake of this.#waiters.splice(0)) wake();
    };
  }

  idle(): Promise<void> {
    return this.#open === 0 ? Promise.resolve() : new Promise((resolve) => this.#waiters.push(resolve));
  }
}

/** What a handler knows of its call beyond the message. */
export interface CallInfo {
  signal: AbortSignal;
  requestId: string;
  /** When the call's deadline passes (Date.now() time), where it has one (rule 3). */
  deadlineAtMs?: number;
  /** From metadata (rule 5). */
  priority?: number;
}

/**
 * How long before the server's deadline a client's cancel still counts as the deadline's. grpc-js servers
 * count a deadline from the headers' arrival, the client from the call's start, so a client cancelling at
 * its deadline is seen before ours: with a 30 ms deadline on 2 cores the cancel came from 1 ms before to
 * 3 ms after it, and a full test run once counted such a call CANCELLED. The margin is for loaded hosts.
 */
const kCancelAtDeadlineMs = 25;

const requestIdPattern = /^[A-Za-z0-9._:@/+=-]{1,128}$/;

function lastValue(metadata: Metadata, key: string): string | undefined {
  const values = metadata.get(key);
  const value = values[values.length - 1];
  return value === undefined ? undefined : String(value);
}

function callInfo(call: ServerUnaryCall<unknown, unknown>, signal: AbortSignal, requestId: string): CallInfo {
  const info: CallInfo = { signal, requestId };
  const deadline = call.getDeadline();
  const deadlines = [deadline instanceof Date ? deadline.getTime() : deadline];
  const fromMetadata = lastValue(call.metadata, kDeadlineHeader);
  if (fromMetadata !== undefined) deadlines.push(Date.now() + parseDeadlineMs(fromMetadata, kDeadlineHeader));
  const deadlineAtMs = Math.min(...deadlines);
  if (Number.isFinite(deadlineAtMs)) info.deadlineAtMs = deadlineAtMs;
  const priority = lastValue(call.metadata, kPriorityHeader);
  if (priority !== undefined) info.priority = parsePriority(priority, kPriorityHeader);
  return info;
}

export interface UnaryOptions {
  /** Answers while the server closes (readiness, health: rule 2). */
  whileClosing?: boolean;
}

/** A grpc-js unary handler around `handle`, with rules 1, 2, 4, 6 and 7. */
export function unary<Req, Res>(
  ctx: GrpcContext,
  method: string,
  handle: (request: Req, info: CallInfo) => Promise<Res> | Res,
  options: UnaryOptions = {},
): handleUnaryCall<Req, Res> {
  return (call, callback) => {
    const end = ctx.calls.begin();
    const controller = new AbortController();
    const onCancel = () => controller.abort();
    call.once('cancelled', onCancel);
    if (call.cancelled) controller.abort();
    const given = lastValue(call.metadata, kRequestIdHeader);
    const requestId = given !== undefined && requestIdPattern.test(given) ? given : randomUUID();
    const headers = new Metadata();
    headers.set(kRequestIdHeader, requestId);
    call.sendMetadata(headers);
    const run = async (): Promise<Res> => {
      if (ctx.closing() && !options.whileClosing) throw Errors.unavailable('the server is closing');
      const request = call.request as Req | MalformedMessage;
      if (request instanceof MalformedMessage)
        throw Errors.invalidArgument('request', `is not a valid message for ${method} (${request.why})`);
      return handle(request, callInfo(call, controller.signal, requestId));
    };
    run().then(
      (response) => {
        call.off('cancelled', onCancel);
        callback(null, response);
        end();
      },
      (error: unknown) => {
        call.off('cancelled', onCancel);
        const failure = describeFailure(error, { closing: ctx.closing(), redact: (text) => ctx.paths.redact(text) });
        const details = {
          method,
          requestId,
          status: failure.status,
          code: failure.code,
          field: failure.field,
          model: failure.model,
        };
        if (failure.code === 'INTERNAL') ctx.log.error({ ...details, err: error }, failure.message);
        else
          ctx.log.info(
            details,
            failure.code === 'CANCELLED'
              ? 'the client cancelled the call; its inference was withdrawn'
              : failure.message,
          );
        callback(serviceError(ctx.protos, failure));
        end();
      },
    );
  };
}

export interface GrpcInfer {
  model: string;
  version?: string;
  /** Checked against the served version's signature; a builder, so decoding errors come after routing ones. */
  inputs: (served: ServedVersion) => NamedTensors;
  /** From the message (KServe's parameters); metadata wins for priority, the earliest deadline wins. */
  priority?: number;
  deadlineMs?: number;
}

/** Runs one inference for a call (the caller counts it: see `tracked`); the result names the version that answered. */
export async function inferForCall(
  ctx: GrpcContext,
  info: CallInfo,
  call: GrpcInfer,
): Promise<{ outputs: NamedTensors; served: ServedVersion }> {
  const served = ctx.models.route(call.model, call.version);
  const inputs = call.inputs(served);
  const nowMs = Date.now();
  const deadlineAtMs = Math.min(
    info.deadlineAtMs ?? Infinity,
    call.deadlineMs === undefined ? Infinity : nowMs + call.deadlineMs,
  );
  const late = () => Errors.deadlineExceeded(served.session, "the call's deadline passed before the model could start");
  if (deadlineAtMs <= nowMs) throw late();
  try {
    // Routing and the call happen in one tick: a version switch cannot remove this session in between.
    const outputs = await ctx.server.infer(served.session, inputs, {
      signal: info.signal,
      deadlineMs: Number.isFinite(deadlineAtMs) ? deadlineAtMs - nowMs : undefined,
      priority: info.priority ?? call.priority,
    });
    return { outputs, served };
  } catch (error) {
    // grpc-js cancels a call whose deadline passes, which may withdraw the request before the queue's own
    // deadline check does: that is the deadline's doing, not the client's. So is a client's cancel just
    // before it: the client cancels at its own deadline, which is ours less the headers' transit.
    if (isOlympianError(error, ErrorCode.CANCELLED) && Date.now() >= deadlineAtMs - kCancelAtDeadlineMs) throw late();
    throw error;
  }
}
