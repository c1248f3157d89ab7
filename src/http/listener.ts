/**
 * The HTTP(S) server under fastify, made here (fastify's `serverFactory`) so that every timeout is ours and
 * is enforced when it falls due:
 *   1. headersTimeoutMs and bodyTimeoutMs are Node's headersTimeout and requestTimeout, which Node checks
 *      only every `connectionsCheckingInterval` (30 s by default: slow-loris connections lived 81 s). The
 *      check runs here every tenth of the shorter timeout, at most once a second; a connection past either
 *      gets a 408 and is closed. A connection that never sends a byte counts from its accept.
 *   2. idleTimeoutMs: a socket on which no byte moves is closed, unless the server is working out its
 *      answer (its request is in; an inference waiting in a queue is not the client stalling).
 *   3. keepAliveTimeoutMs: an idle kept-alive connection is closed after it (plus the 1 s Node adds, so that
 *      a client reusing the connection as the advertised time runs out is not cut mid-request).
 *   4. A TLS handshake has headersTimeoutMs to finish.
 */
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server as HttpServer,
  type ServerOptions,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { ConnectionTracker } from './connections.js';
import type { HttpLimits } from './limits.js';

export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

export interface ListenerOptions {
  limits: HttpLimits;
  connections: ConnectionTracker;
  tls?: { key: string | Buffer; cert: string | Buffer };
}

/** How often Node looks for connections past their headers or body timeout (rule 1). */
export const checkingIntervalMs = (limits: HttpLimits) =>
  Math.max(10, Math.min(1000, Math.floor(Math.min(limits.headersTimeoutMs, limits.bodyTimeoutMs) / 10)));

export function createListener(
  handler: Handler,
  { limits, connections, tls }: ListenerOptions,
): HttpServer | HttpsServer {
  const options: ServerOptions = {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.bodyTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    connectionsCheckingInterval: checkingIntervalMs(limits),
  };
  const server = tls
    ? createHttpsServer({ ...tls, ...options, handshakeTimeout: limits.headersTimeoutMs }, handler)
    : createHttpServer(options, handler);
  connections.attach(server, tls !== undefined);
  // With a 'timeout' listener Node leaves the socket to us, for idle and keep-alive timeouts alike (rule 2).
  server.setTimeout(limits.idleTimeoutMs);
  server.on('timeout', (socket: Socket) => {
    if (!connections.isWorking(socket)) socket.destroy();
  });
  return server;
}
