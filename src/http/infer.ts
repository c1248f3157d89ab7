/**
 * What every inference route shares: the per-request priority and deadline headers, routing to the served
 * session, cancelling the inference when the client goes away, and counting the outcome.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Errors, isOlympianError } from '../protocol/errors.js';
import type { NamedTensors } from '../protocol/tensors.js';
import type { Server } from '../server/server.js';
import type { HttpMetrics } from './metrics.js';
import type { PathRedactor } from './paths.js';
import type { ModelRegistry, ServedVersion } from './registry.js';

export const kPriorityHeader = 'x-olympian-priority';
export const kDeadlineHeader = 'x-olympian-deadline-ms';
export const kRequestIdHeader = 'x-request-id';

export interface HttpContext {
  server: Server;
  models: ModelRegistry;
  metrics: HttpMetrics;
  /** Makes server paths relative for everything but the log and the admin routes. */
  paths: PathRedactor;
  /** True once close() has begun: readiness turns false before the listener stops. */
  closing(): boolean;
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

/** Priority and deadline from the headers, each an INVALID_ARGUMENT naming the header when malformed. */
export function headerOptions(request: FastifyRequest): { priority?: number; deadlineMs?: number } {
  const out: { priority?: number; deadlineMs?: number } = {};
  const priority = header(request, kPriorityHeader);
  if (priority !== undefined) {
    const value = Number(priority);
    if (!/^\s*[+-]?\d+\s*$/.test(priority) || !Number.isSafeInteger(value) || Math.abs(value) > 2 ** 30) {
      throw Errors.invalidArgument(kPriorityHeader, `must be an integer, got ${JSON.stringify(priority)}`);
    }
    out.priority = value;
  }
  const deadline = header(request, kDeadlineHeader);
  if (deadline !== undefined) {
    const value = Number(deadline);
    if (deadline.trim() === '' || !Number.isFinite(value) || value <= 0) {
      throw Errors.invalidArgument(kDeadlineHeader, `must be a number of milliseconds > 0, got ${JSON.stringify(deadline)}`);
    }
    out.deadlineMs = value;
  }
  return out;
}

/** Times `work` and counts its outcome (`ok` or the error's code) for the model. */
export async function tracked<T>(ctx: HttpContext, model: string, work: () => Promise<T>): Promise<T> {
  const startedNs = process.hrtime.bigint();
  try {
    const result = await work();
    ctx.metrics.observe(model, 'ok', Number(process.hrtime.bigint() - startedNs) / 1e9);
    return result;
  } catch (error) {
    const code = isOlympianError(error) ? error.code : (error as { code?: unknown })?.code;
    ctx.metrics.observe(model, typeof code === 'string' && !code.startsWith('FST_') ? code : 'INTERNAL', 0);
    throw error;
  }
}

/** Runs one inference for an HTTP request; the result names the version that answered. */
export async function inferForRequest(ctx: HttpContext, request: FastifyRequest, reply: FastifyReply, call: InferCall): Promise<{ outputs: NamedTensors; version: string }> {
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
