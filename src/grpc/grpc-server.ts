/**
 * The gRPC front: one grpc-js server beside the HTTP one, on the same host, over the same device server and
 * model registry, with KServe v2, TF-Serving's PredictionService and ModelService, grpc.health.v1 and server
 * reflection (v1 and v1alpha: grpcurl and other tools need no .proto files). Messages are held to
 * `limits.bodyBytes`, the binary HTTP bodies' limit. Its part in http-server.ts's close:
 *   1. `drain()`: readiness turns false at once (health watchers are told, then their streams end); the port
 *      stays open, so a call that comes now is told UNAVAILABLE rather than refused;
 *   2. `idle()` settles once every unary call received has been answered;
 *   3. `close()`: GOAWAY to every client and the port closes; a stream still open after kStreamFlushMs (a
 *      reflection client that keeps its stream) is cut;
 *   4. `destroy()`: every connection cut at once, for the end of the grace.
 */
import { Server as GrpcServer, ServerCredentials, type ChannelOptions } from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import type { HttpContext } from '../http/infer.js';
import { Errors } from '../protocol/errors.js';
import type { HttpLimits } from '../http/limits.js';
import { CallTracker, type GrpcContext, type GrpcLog } from './call.js';
import { HealthService } from './health.js';
import { kserveService } from './kserve.js';
import { kServiceNames, loadProtos } from './protos.js';
import { modelService, predictionService } from './tfserving.js';

export interface GrpcFrontOptions {
  ctx: HttpContext;
  host: string;
  /** 0 picks a free one. */
  port: number;
  tls?: { key: string | Buffer; cert: string | Buffer };
  limits: HttpLimits;
  log: GrpcLog;
}

export interface GrpcFront {
  readonly port: number;
  /** `host:port`, what a gRPC client dials. */
  readonly target: string;
  /** Tells health watchers to look again: call when readiness may have changed. */
  readinessChanged(): void;
  drain(): void;
  idle(): Promise<void>;
  close(): Promise<void>;
  destroy(): void;
}

export function grpcChannelOptions(limits: HttpLimits): ChannelOptions {
  return {
    'grpc.max_receive_message_length': limits.bodyBytes,
    'grpc.keepalive_time_ms': limits.grpcKeepaliveTimeMs,
    'grpc.keepalive_timeout_ms': limits.grpcKeepaliveTimeoutMs,
  };
}

/** An address as a gRPC target spells it: IPv6 in brackets. */
export const hostPort = (host: string, port: number) => `${host.includes(':') ? `[${host}]` : host}:${port}`;

/** How long a close waits for streams (not unary calls: those are answered by then) before cutting them. */
const kStreamFlushMs = 1000;

export async function startGrpcFront(options: GrpcFrontOptions): Promise<GrpcFront> {
  const protos = loadProtos();
  const calls = new CallTracker();
  const ctx: GrpcContext = { ...options.ctx, protos, calls, log: options.log };
  const health = new HealthService(ctx);
  const server = new GrpcServer(grpcChannelOptions(options.limits));
  server.addService(protos.service(kServiceNames.inference), kserveService(ctx));
  server.addService(protos.service(kServiceNames.prediction), predictionService(ctx));
  server.addService(protos.service(kServiceNames.model), modelService(ctx));
  server.addService(protos.service(kServiceNames.health), health.implementation());
  new ReflectionService(protos.definition).addToServer(server);
  const credentials = options.tls
    ? ServerCredentials.createSsl(
        null,
        [{ private_key: Buffer.from(options.tls.key), cert_chain: Buffer.from(options.tls.cert) }],
        false,
      )
    : ServerCredentials.createInsecure();
  const port = await new Promise<number>((resolve, reject) => {
    const address = hostPort(options.host, options.port);
    server.bindAsync(address, credentials, (error, bound) =>
      error
        ? reject(Errors.invalidConfig('grpcPort', `cannot listen on ${address} (${error.message})`))
        : resolve(bound),
    );
  }).catch((error: unknown) => {
    server.forceShutdown();
    throw error;
  });
  let closed: Promise<void> | undefined;
  return {
    port,
    target: hostPort(options.host, port),
    readinessChanged: () => health.update(),
    drain: () => health.end(),
    idle: () => calls.idle(),
    close() {
      closed ??= new Promise<void>((resolve) => {
        const cut = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, kStreamFlushMs);
        server.tryShutdown(() => {
          clearTimeout(cut);
          resolve();
        });
      });
      return closed;
    },
    destroy: () => server.forceShutdown(),
  };
}
