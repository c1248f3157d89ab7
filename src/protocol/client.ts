/**
 * The RPC client for other worker threads: `connectClient(port)` on a port from `server.connect()` gives the
 * server's infer/stats over comlink. Input buffers are transferred (the caller's arrays are detached);
 * outputs arrive transferred too. Errors keep their `code`, `field` and `session`.
 */
import type { MessagePort } from 'node:worker_threads';
import { releaseProxy, transfer, wrap, type Remote } from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { installRpcErrors } from './rpc-errors.js';
import { transferablesOf, type NamedTensors } from './tensors.js';

export interface RemoteInferOptions {
  deadlineMs?: number;
  priority?: number;
}

/** What the server exposes on a connected port. */
export interface ServerApi {
  infer(name: string, inputs: NamedTensors, options?: RemoteInferOptions): Promise<NamedTensors>;
  stats(): Promise<unknown>;
  models(): Promise<string[]>;
}

export interface OlympianClient {
  infer(name: string, inputs: NamedTensors, options?: RemoteInferOptions): Promise<NamedTensors>;
  stats(): Promise<unknown>;
  models(): Promise<string[]>;
  close(): void;
}

export function connectClient(port: MessagePort): OlympianClient {
  installRpcErrors();
  const remote: Remote<ServerApi> = wrap<ServerApi>(nodeEndpoint(port as never));
  return {
    infer: (name, inputs, options = {}) => remote.infer(name, transfer(inputs, transferablesOf(inputs)), options) as Promise<NamedTensors>,
    stats: () => remote.stats() as Promise<unknown>,
    models: () => remote.models() as Promise<string[]>,
    close() {
      remote[releaseProxy]();
      port.close();
    },
  };
}
