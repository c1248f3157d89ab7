/**
 * The fastify application: request ids, the one error shape, and every route. Bodies are body.ts's, the
 * listening socket's server listener.ts's, listening and closing http-server.ts's.
 */
import { randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import { Errors } from '../protocol/errors.js';
import { registerAdmin } from './admin.js';
import { registerBodies } from './body.js';
import { registerCompression } from './compress.js';
import type { ConnectionTracker } from './connections.js';
import { errorResponse, retryAfterHeader, routeNotFound } from './errors.js';
import { kRequestIdHeader, type HttpContext } from './infer.js';
import { registerKServe } from './kserve.js';
import type { HttpLimits } from './limits.js';
import { createListener, type Handler } from './listener.js';
import { isMsgpackRequest, msgpackError } from './msgpack.js';
import { registerTfServing } from './tfserving.js';

/** Where log lines go: a pino destination (anything with write(line)). */
export interface LogStream {
  write(line: string): void;
}

export interface AppOptions {
  ctx: HttpContext;
  connections: ConnectionTracker;
  limits: HttpLimits;
  adminToken?: string;
  /** false: no logs; otherwise pino's JSON lines at `level` (default info) to `stream` (default stdout). */
  logger: false | { level?: string; stream?: LogStream };
  https?: { key: string | Buffer; cert: string | Buffer };
}

/** A client's own request id is kept if it is a sane token; anything else gets a fresh UUID. */
const requestIdPattern = /^[A-Za-z0-9._:@/+=-]{1,128}$/;

function requestId(raw: { headers: Record<string, string | string[] | undefined> }): string {
  const given = raw.headers[kRequestIdHeader];
  return typeof given === 'string' && requestIdPattern.test(given) ? given : randomUUID();
}

/** Routes that still answer while the server closes: a probe must see "not ready", a scrape the last figures. */
const answersWhileClosing = (url: string) =>
  url.startsWith('/v2/health/') ||
  url === '/metrics' ||
  /^\/v2\/models\/[^/?]+(?:\/versions\/[^/?]+)?\/ready(?:\?|$)/.test(url);

export function buildApp(options: AppOptions): FastifyInstance {
  const { ctx } = options;
  const logger =
    options.logger === false
      ? false
      : { level: options.logger.level ?? 'info', ...(options.logger.stream ? { stream: options.logger.stream } : {}) };
  const app = Fastify({
    logger,
    // Each kind of body has its own limit (body.ts); this is the larger, for fastify's own count.
    bodyLimit: Math.max(options.limits.bodyBytes, options.limits.jsonBodyBytes),
    genReqId: requestId,
    // Probes and scrapes come every few seconds from every replica; their lines would bury the requests'.
    logController: new LogController({
      requestIdLogLabel: 'requestId',
      disableRequestLogging: (req: { url?: string }) => answersWhileClosing(req.url ?? ''),
    }),
    // Closing is ours: requests on kept-alive connections get our 503 shape, and health routes still answer.
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    serverFactory: (handler: Handler) =>
      createListener(handler, { limits: options.limits, connections: options.connections, tls: options.https }),
  }) as unknown as FastifyInstance;

  registerBodies(app, options.limits);
  registerCompression(app);

  app.addHook('onRequest', async (request, reply) => {
    reply.header(kRequestIdHeader, request.id);
    // Only reads: a body sent to a probe route could otherwise stall and hold the drain open.
    if (
      ctx.closing() &&
      !(answersWhileClosing(request.url) && (request.method === 'GET' || request.method === 'HEAD'))
    ) {
      throw Errors.unavailable('the server is closing');
    }
  });

  // Answers given while closing end their connection, so a kept-alive client cannot hold the close open.
  app.addHook('onSend', async (_request, reply, payload) => {
    if (ctx.closing()) reply.header('connection', 'close');
    return payload;
  });

  app.setErrorHandler((error, request, reply) => {
    const { status, body } = errorResponse(error, request.id);
    const details = { code: body.code, field: body.field, model: body.model, status };
    if (status >= 500 && status !== 503) request.log.error({ ...details, err: error }, body.error);
    else if (status === 499) request.log.info(details, 'the client went away; its inference was withdrawn');
    else request.log.info(details, body.error);
    // The log keeps absolute paths; a client reads them relative, unless it has passed the admin check.
    if (!request.url.startsWith('/admin/')) {
      body.error = ctx.paths.redact(body.error);
      if (body.field !== undefined) body.field = ctx.paths.redact(body.field);
    }
    reply.code(status);
    const retryAfter = retryAfterHeader(error);
    if (retryAfter !== undefined) reply.header('retry-after', retryAfter);
    if (isMsgpackRequest(request)) return reply.type('application/msgpack').send(msgpackError(request, body));
    return reply.send(body);
  });

  app.setNotFoundHandler((request) => {
    throw routeNotFound(request.method, request.url);
  });

  registerTfServing(app, ctx);
  registerKServe(app, ctx);
  registerAdmin(app, ctx, options.adminToken);
  app.get('/metrics', async (_request, reply) => {
    const { contentType, body } = await ctx.metrics.render();
    return reply.type(contentType).send(body);
  });
  return app;
}
