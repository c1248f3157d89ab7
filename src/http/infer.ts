/**
 * What every inference route shares: the per-request priority and deadline headers, routing to the served
 * session, cancelling the inference when the client goes away, and counting the outcome.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Errors, isOlympianError } from '../protocol/errors.js';
import type { NamedTensors } from '../protocol/tensors.js';
import type { Server } from '../server/server.js';
import type { HttpMetrics, RequestProtocol } from './metrics.js';
import type { ServedVersion } from './model-versions.js';
import type { PathRedactor } from './paths.js';
import type { ModelRegistry } from './registry.js';

export const kPriorityHeader = 'x-olympian-priority';
export const kDeadlineHeader = 'x-olympian-deadline-ms';
export const kRequestIdHeader = 'x-request-id';
/** Request priorities a client may ask for lie within ±this. */
export const kMaxPriority = 2 ** 30;

export interface HttpContext {
  server: Server;
  models: ModelRegistry;
  metrics: HttpMetrics;
  /** Makes server paths relative for everything but the log and the admin routes. */
  paths: PathRedactor;
  /** True once close() has begun: readiness turns false before the listener stops. */
  closing(): boolean;
  /** True once every port (HTTP, and gRPC where configured) listens, until close() begins. */
  serving(): boolean;
}

export interface InferCall {
  model: string;
  version?: string;
  /** Checked against the served version's signature; a builder, so decoding errors come after routing ones. */
  inputs: (served: ServedVersion) => NamedTensors;
  /** From the body (msgpack frames carry them); the headers win. */
  deadlineMs?: number;
  priority?: number;
}

function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[value.length - 1] : value;
}

/** A per-request priority as a header or gRPC metadata spells it; INVALID_ARGUMENT naming `field` when malformed. */
export function parsePriority(text: string, field: string): number {
  const value = Number(text);
  if (!/^\s*[+-]?\d+\s*$/.test(text) || !Number.isSafeInteger(value) || Math.abs(value) > kMaxPriority) {
    throw Errors.invalidArgument(
      field,
      `must be an integer from -${kMaxPriority} to ${kMaxPriority}, got ${JSON.stringify(text)}`,
    );
  }
  return value;
}

/** A per-request deadline in milliseconds as a header or gRPC metadata spells it. */
export function parseDeadlineMs(text: string, field: string): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value <= 0) {
    throw Errors.invalidArgument(field, `must be a number of milliseconds > 0, got ${JSON.stringify(text)}`);
  }
  return value;
}

/** Priority and deadline from the headers, each an INVALID_ARGUMENT naming the header when malformed. */
export function headerOptions(request: FastifyRequest): { priority?: number; deadlineMs?: number } {
  const out: { priority?: number; deadlineMs?: number } = {};
  const priority = header(request, kPriorityHeader);
  if (priority !== undefined) out.priority = parsePriority(priority, kPriorityHeader);
  const deadline = header(request, kDeadlineHeader);
  if (deadline !== undefined) out.deadlineMs = parseDeadlineMs(deadline, kDeadlineHeader);
  return out;
}

/** Times `work` and counts its outcome (`ok` or the error's code) for the model. */
export async function tracked<T>(
  ctx: HttpContext,
  model: string,
  work: () => Promise<T>,
  protocol: RequestProtocol = 'http',
): Promise<T> {
  const startedNs = process.hrtime.bigint();
  try {
    const result = await work();
    ctx.metrics.observe(model, 'ok', Number(process.hrtime.bigint() - startedNs) / 1e9, protocol);
    return result;
  } catch (error) {
    const code = isOlympianError(error) ? error.code : (error as { code?: unknown })?.code;
    ctx.metrics.observe(model, typeof code === 'string' && !code.startsWith('FST_') ? code : 'INTERNAL', 0, protocol);
    throw error;
  }
}

/** Runs one inference for an HTTP request; the result names the version that answered. */
export async function inferForRequest(
  ctx: HttpContext,
  request: FastifyRequest,
  reply: FastifyReply,
  call: InferCall,
): Promise<{ outputs: NamedTensors; version: string }> {
  const fromHeaders = headerOptions(request);
  const controller = new AbortController();
  // 'close' on the response comes both when it is finished and when the connection drops; only the second
  // (nothing written yet) means the client has gone, and its queued or staged inference is withdrawn.
  const onClose = () => {
    if (!reply.raw.writableEnded) controller.abort();
  };
  reply.raw.once('close', onClose);
  try {
    // Not request.raw.destroyed: Node destroys a request once its body is read, which says nothing of the client.
    if (reply.raw.destroyed || request.raw.socket?.destroyed) controller.abort();
    const served = ctx.models.route(call.model, call.version);
    const inputs = call.inputs(served);
    // Routing and the call happen in one tick: a version switch cannot remove this session in between.
    const outputs = await ctx.server.infer(served.session, inputs, {
      signal: controller.signal,
      deadlineMs: fromHeaders.deadlineMs ?? call.deadlineMs,
      priority: fromHeaders.priority ?? call.priority,
    });
    return { outputs, version: served.version };
  } finally {
    reply.raw.off('close', onClose);
  }
}
