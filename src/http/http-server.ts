/**
 * Starts the whole HTTP front: the device server, its models (with versions), the fastify app, and the
 * listener. `close()` stops them in the order that loses no answer it owes:
 *   1. readiness turns false at once (probes get 503) and polling stops; the listener stays open, so a
 *      probe or a late request is told 503 rather than refused;
 *   2. connections owed no answer are dropped: idle keep-alive ones, silent ones, and ones still sending a
 *      request (a stalled upload cannot hold the close open);
 *   3. requests already received are answered (with `drain`: queued ones are run);
 *   4. after `limits.shutdownGraceMs`, or at once without `drain`, queued work fails with UNAVAILABLE, and a
 *      moment later (for those answers to go out) every connection is dropped;
 *   5. the listener closes, then the sessions.
 * With `grpcPort`, the gRPC front (src/grpc) runs beside it and follows the same steps: its health turns
 * NOT_SERVING in step 1 (its port stays open, new calls get UNAVAILABLE), its calls are answered in step 3,
 * its connections are cut in step 4, and it closes with the listener. Readiness is true only once both
 * ports listen.
 */
import { isIP } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { Errors } from '../protocol/errors.js';
import type { GrpcFront } from '../grpc/grpc-server.js';
import type { ServerOptions } from '../server/config.js';
import { createServer, type Server } from '../server/server.js';
import { buildApp, type LogStream } from './app.js';
import { ConnectionTracker } from './connections.js';
import type { HttpContext } from './infer.js';
import { resolveLimits, type HttpLimits } from './limits.js';
import { HttpMetrics } from './metrics.js';
import type { HttpModelConfig } from './model-config.js';
import { PathRedactor } from './paths.js';
import { ModelRegistry } from './registry.js';

export interface HttpServerOptions {
  /** The device server's options (device, backend, policy, quantumMs, tokens, memoryBudgetMB, ...); its sessions come from `models`. */
  server?: Omit<ServerOptions, 'sessions'>;
  models: HttpModelConfig[];
  /** Default 127.0.0.1. Any other address needs `adminToken` (and TLS here or in front: see docs/deploy.md). */
  host?: string;
  /** Default 8501 (TF-Serving's REST port); 0 picks a free one. */
  port?: number;
  /**
   * Serve gRPC too, on this port of the same host (KServe v2, TF-Serving's PredictionService and ModelService,
   * grpc.health.v1, reflection); 0 picks a free one. Absent: no gRPC. TF-Serving's own gRPC port is 8500.
   */
  grpcPort?: number;
  /** PEM key and certificate: serve HTTPS (and gRPC over TLS). */
  tls?: { key: string | Buffer; cert: string | Buffer };
  /** Bearer token for /admin routes, at least 16 characters. Without one, admin answers only requests on loopback addressed to a loopback name. */
  adminToken?: string;
  /** Body sizes, timeouts and the shutdown grace (see limits.ts for each and its default). */
  limits?: Partial<HttpLimits>;
  /** How often model base paths are scanned for new versions, ms (default 1000; 0: never). */
  pollIntervalMs?: number;
  logger?: false | { level?: string; stream?: LogStream };
  /** Node process metrics (CPU, memory, event loop) on /metrics too (default true). */
  processMetrics?: boolean;
}

export interface HttpServer {
  /** `http://127.0.0.1:<port>` (or https), for clients. */
  readonly url: string;
  readonly port: number;
  /** The gRPC front's port and `host:port` target, where `grpcPort` was given. */
  readonly grpc: { readonly port: number; readonly target: string } | null;
  readonly server: Server;
  readonly models: ModelRegistry;
  readonly app: FastifyInstance;
  /**
   * With `drain` (default), requests already received are answered within `limits.shutdownGraceMs`;
   * without, queued ones fail with UNAVAILABLE and every connection is dropped. A call without drain during
   * a drained close hurries it the same way.
   */
  close(options?: { drain?: boolean }): Promise<void>;
}

const loopbackHosts = new Set(['localhost', '127.0.0.1', '::1']);
export const isLoopback = (host: string) => loopbackHosts.has(host) || /^127\.\d+\.\d+\.\d+$/.test(host);

/** Checks the HTTP-side options (the server's own are checked by createServer); INVALID_CONFIG naming the key. */
export function validateHttpOptions(options: HttpServerOptions): void {
  const { host = '127.0.0.1', port = 8501, grpcPort, adminToken, pollIntervalMs, tls } = options;
  if (typeof host !== 'string' || (host !== 'localhost' && isIP(host) === 0 && !/^[A-Za-z0-9.-]{1,253}$/.test(host))) {
    throw Errors.invalidConfig('host', `must be an IP address or host name, got ${JSON.stringify(host)}`);
  }
  if (!Number.isSafeInteger(port) || port < 0 || port > 65535)
    throw Errors.invalidConfig('port', `must be an integer from 0 to 65535, got ${String(port)}`);
  if (grpcPort !== undefined && (!Number.isSafeInteger(grpcPort) || grpcPort < 0 || grpcPort > 65535)) {
    throw Errors.invalidConfig('grpcPort', `must be an integer from 0 to 65535, got ${String(grpcPort)}`);
  }
  if (grpcPort !== undefined && grpcPort !== 0 && grpcPort === port)
    throw Errors.invalidConfig('grpcPort', `must differ from port (${port})`);
  if (adminToken !== undefined && (typeof adminToken !== 'string' || adminToken.length < 16)) {
    throw Errors.invalidConfig('adminToken', 'must be a string of at least 16 characters');
  }
  if (!isLoopback(host) && adminToken === undefined) {
    throw Errors.invalidConfig(
      'adminToken',
      `is required to bind ${host}: admin routes change weights and policy and must not be open to the network`,
    );
  }
  resolveLimits(options.limits);
  if (pollIntervalMs !== undefined && !(Number.isFinite(pollIntervalMs) && pollIntervalMs >= 0)) {
    throw Errors.invalidConfig('pollIntervalMs', 'must be a number >= 0');
  }
  if (tls !== undefined && !(tls.key && tls.cert)) throw Errors.invalidConfig('tls', 'needs both key and cert');
  if (!Array.isArray(options.models) || options.models.length === 0)
    throw Errors.invalidConfig('models', 'must list at least one model');
  options.models.forEach((model, i) => {
    if ((model.basePath === undefined) === (model.model === undefined))
      throw Errors.invalidConfig(`models[${i}]`, 'needs exactly one of basePath and model');
  });
}

/** How long answers to work failed at the end of the grace get to go out before every connection is dropped. */
const kAnswerFlushMs = 100;

export async function startHttpServer(options: HttpServerOptions): Promise<HttpServer> {
  validateHttpOptions(options);
  const host = options.host ?? '127.0.0.1';
  const limits = resolveLimits(options.limits);
  const server = await createServer({ ...options.server, sessions: [] });
  let closing = false;
  let listening = false;
  let models: ModelRegistry | undefined;
  let app: FastifyInstance | undefined;
  let grpc: GrpcFront | undefined;
  const connections = new ConnectionTracker();
  try {
    const logger = options.logger ?? false;
    // The registry logs through the app's logger, which exists only once the app does: what it says while
    // the models load (a version that fails, with its absolute path) is held until then.
    const early: Array<['info' | 'error', object, string]> = [];
    const sink = {
      info: (o: object, m: string) => (app ? app.log.info(o, m) : early.push(['info', o, m])),
      error: (o: object, m: string) => (app ? app.log.error(o, m) : early.push(['error', o, m])),
    };
    models = await ModelRegistry.create(server, options.models, { pollIntervalMs: options.pollIntervalMs, log: sink });
    const metrics = new HttpMetrics(server, models, { processMetrics: options.processMetrics });
    const ctx: HttpContext = {
      server,
      models,
      metrics,
      paths: new PathRedactor(options.models),
      closing: () => closing,
      serving: () => listening && !closing,
    };
    app = buildApp({ ctx, connections, limits, adminToken: options.adminToken, logger, https: options.tls });
    for (const [level, details, message] of early.splice(0)) app.log[level](details, message);
    if (options.grpcPort !== undefined) {
      // Loaded only when asked for: an HTTP-only server does not pay for grpc-js and the protos.
      const { startGrpcFront } = await import('../grpc/grpc-server.js');
      grpc = await startGrpcFront({ ctx, host, port: options.grpcPort, tls: options.tls, limits, log: app.log });
    }
    await app.listen({ host, port: options.port ?? 8501 });
    listening = true;
    grpc?.readinessChanged();
  } catch (error) {
    grpc?.destroy();
    await models?.close();
    await app?.close();
    await server.close({ drain: false });
    throw error;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : (options.port ?? 0);
  const urlHost = host.includes(':') ? `[${host}]` : host;
  let closed: Promise<void> | undefined;
  let sessionsClosed: Promise<void> | undefined;
  let hurried = false;
  const registry = models;
  const fastify = app;
  const grpcFront = grpc;
  // Rule 4: the failed work's 503s are written in the microtasks after it fails; then nothing is left to wait for.
  const hurry = () => {
    if (hurried) return;
    hurried = true;
    fastify.log.warn({ open: connections.open }, 'closing now: queued requests fail, every connection is dropped');
    sessionsClosed ??= server.close({ drain: false });
    setTimeout(() => {
      connections.destroyAll();
      grpcFront?.destroy();
    }, kAnswerFlushMs).unref();
  };
  return {
    url: `${options.tls ? 'https' : 'http'}://${urlHost}:${port}`,
    port,
    grpc: grpcFront ? { port: grpcFront.port, target: grpcFront.target } : null,
    server,
    models: registry,
    app: fastify,
    close({ drain = true } = {}) {
      if (!drain) hurry();
      closed ??= (async () => {
        closing = true;
        grpcFront?.drain();
        const grace = setTimeout(hurry, limits.shutdownGraceMs);
        const polling = registry.close();
        connections.dropUnowed();
        await Promise.all([connections.idle(), grpcFront?.idle()]);
        clearTimeout(grace);
        const stopped = fastify.close();
        connections.destroyAll();
        await Promise.all([stopped, grpcFront?.close()]);
        await polling;
        await (sessionsClosed ??= server.close({ drain: true }));
      })();
      return closed;
    },
  };
}
