/**
 * Every connection of the listener and the exchanges (a request and its answer) it carries, so that idling
 * and closing can tell a connection the server owes an answer to from one it owes nothing:
 *   1. an answer is owed once its request has fully arrived; until then the client is the one who is late;
 *   2. a connection owed nothing (idle keep-alive, silent, or still sending its request) is dropped when the
 *      server closes, so a client stalling an upload cannot hold a shutdown open;
 *   3. on TLS, exchanges live on the TLS socket, and a socket still in its handshake owes nothing either: it
 *      is dropped with the rest at the end.
 */
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Socket } from 'node:net';

interface Exchange {
  req: IncomingMessage;
  res: ServerResponse;
}

export class ConnectionTracker {
  /** Every accepted TCP socket, whatever state it is in. */
  readonly #sockets = new Set<Socket>();
  /** The sockets HTTP runs on (the TLS ones on HTTPS), with the exchanges not yet answered on each. */
  readonly #exchanges = new Map<Socket, Set<Exchange>>();
  #open = 0;
  #waiters: Array<() => void> = [];

  attach(server: HttpServer | HttpsServer, secure: boolean): void {
    server.on('connection', (socket: Socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
    server.on(secure ? 'secureConnection' : 'connection', (socket: Socket) => {
      this.#exchanges.set(socket, new Set());
      socket.once('close', () => this.#exchanges.delete(socket));
    });
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      const exchange = { req, res };
      const onSocket = this.#exchanges.get(req.socket);
      onSocket?.add(exchange);
      this.#open++;
      // 'close' comes once the answer is finished or the connection is gone, whichever is first.
      res.once('close', () => {
        onSocket?.delete(exchange);
        if (--this.#open === 0) for (const wake of this.#waiters.splice(0)) wake();
      });
    });
  }

  /** Exchanges not yet answered. */
  get open(): number {
    return this.#open;
  }

  /** Whether the server is working out an answer on this connection: its request is in, no byte of the answer out. */
  isWorking(socket: Socket): boolean {
    for (const { req, res } of this.#exchanges.get(socket) ?? []) if (req.complete && !res.headersSent) return true;
    return false;
  }

  /** Drops every connection that is owed no answer (rule 2). */
  dropUnowed(): void {
    for (const [socket, exchanges] of this.#exchanges) {
      const owed = [...exchanges].some(({ req, res }) => req.complete && !res.writableEnded);
      if (!owed) socket.destroy();
    }
  }

  /** Drops every connection, owed or not. */
  destroyAll(): void {
    for (const socket of this.#exchanges.keys()) socket.destroy();
    for (const socket of this.#sockets) socket.destroy();
  }

  /** Settles once no exchange is open. */
  idle(): Promise<void> {
    return this.#open === 0 ? Promise.resolve() : new Promise((resolve) => this.#waiters.push(resolve));
  }
}
