/**
 * The RPC client for other worker threads: `connectClient(port)` on a port from `server.connect()` gives the
 * server's infer/stats over comlink. The caller's arrays stay as they were: each input is copied once into
 * a buffer of its own, which then moves to the server; with `{ transfer: true }` a typed array that spans its
 * whole buffer moves as it is and the caller's array is left detached. Outputs arrive transferred. Errors
 * keep their `code`, `field` and `session`.
 *
 * Every call settles: inputs are checked here before anything is posted (a detached array would otherwise
 * be lost in the post), and a call still waiting when the port closes (the server closed, or this client)
 * fails with UNAVAILABLE, as does any call after that.
 */
import type { MessagePort } from 'node:worker_threads';
import { releaseProxy, transfer, wrap, type Remote } from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { Errors, isOlympianError } from './errors.js';
import { installRpcErrors } from './rpc-errors.js';
import { spansBuffer, validateWireTensor, type NamedTensors, type WireTensor } from './tensors.js';

export interface RemoteInferOptions {
  deadlineMs?: number;
  priority?: number;
  /** Zero-copy: move the inputs' buffers to the server, leaving the caller's arrays detached. */
  transfer?: boolean;
}

/** What the server exposes on a connected port. */
export interface ServerApi {
  infer(name: string, inputs: NamedTensors, options?: Omit<RemoteInferOptions, 'transfer'>): Promise<NamedTensors>;
  stats(): Promise<unknown>;
  models(): Promise<string[]>;
}

export interface OlympianClient {
  infer(name: string, inputs: NamedTensors, options?: RemoteInferOptions): Promise<NamedTensors>;
  stats(): Promise<unknown>;
  models(): Promise<string[]>;
  close(): void;
}

/** The inputs as they go on the wire: each array compact in a buffer of its own, and the buffers that move. */
function outgoing(inputs: unknown, move: boolean): { inputs: NamedTensors; buffers: ArrayBuffer[] } {
  if (typeof inputs !== 'object' || inputs === null || Array.isArray(inputs))
    throw Errors.invalidArgument('inputs', 'must be an object of named tensors');
  const buffers = new Set<ArrayBuffer>();
  const sent: [string, WireTensor][] = Object.entries(inputs).map(([name, value]) => {
    const tensor = validateWireTensor(value, `inputs.${name}`);
    const data = move && spansBuffer(tensor.data) ? tensor.data : (tensor.data.slice() as WireTensor['data']);
    buffers.add(data.buffer as ArrayBuffer);
    return [name, { dtype: tensor.dtype, shape: tensor.shape, data }];
  });
  return { inputs: Object.fromEntries(sent), buffers: [...buffers] };
}

export function connectClient(port: MessagePort): OlympianClient {
  installRpcErrors();
  const remote: Remote<ServerApi> = wrap<ServerApi>(nodeEndpoint(port as never));
  const waiting = new Set<(error: Error) => void>();
  let closed = false;
  const gone = () => Errors.unavailable('the connection to the server is closed');
  const closeAll = () => {
    closed = true;
    for (const fail of [...waiting]) fail(gone());
  };
  port.once('close', closeAll);

  function call<T>(start: () => Promise<unknown>): Promise<T> {
    if (closed) return Promise.reject(gone());
    return new Promise<T>((resolve, reject) => {
      const fail = (error: unknown) => {
        waiting.delete(fail);
        // A post that throws (a value that cannot be cloned) is the caller's; anything else is already typed.
        reject(
          isOlympianError(error) || !(error instanceof Error) || error.name !== 'DataCloneError'
            ? error
            : Errors.invalidArgument('inputs', error.message),
        );
      };
      waiting.add(fail);
      try {
        start().then((value) => {
          waiting.delete(fail);
          resolve(value as T);
        }, fail);
      } catch (error) {
        fail(error);
      }
    });
  }

  return {
    infer: (name, inputs, options = {}) =>
      call(() => {
        const { transfer: move = false, ...rest } = options ?? {};
        const wire = outgoing(inputs, move === true);
        return remote.infer(name, transfer(wire.inputs, wire.buffers), rest);
      }),
    stats: () => call(() => remote.stats()),
    models: () => call(() => remote.models()),
    close() {
      if (closed) return;
      closeAll();
      remote[releaseProxy]();
      port.close();
    },
  };
}
