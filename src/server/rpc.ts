/** Exposes a server's infer/stats over a fresh MessageChannel with comlink (the client is protocol/client.ts). */
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { expose, transfer } from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import type { RemoteInferOptions, ServerApi } from '../protocol/client.js';
import { installRpcErrors } from '../protocol/rpc-errors.js';
import { Errors } from '../protocol/errors.js';
import type { NamedTensors, WireTensor } from '../protocol/tensors.js';

/** What of the server a port serves: the embedding API's calls, as the server (server.ts) has them. */
export interface Served {
  infer(
    name: string,
    inputs: NamedTensors,
    options: { deadlineMs?: number; priority?: number; transfer?: boolean },
  ): Promise<NamedTensors>;
  stats(): unknown;
  readonly models: string[];
}

/**
 * Outputs of a batched run are views into one buffer shared with other callers' outputs; transferring it
 * would detach theirs, so such a view is copied (once) before it crosses. A whole buffer moves as it is.
 */
function ownedOutputs(outputs: NamedTensors): { outputs: NamedTensors; buffers: ArrayBuffer[] } {
  const owned: NamedTensors = {};
  const buffers: ArrayBuffer[] = [];
  for (const [name, tensor] of Object.entries(outputs)) {
    const whole = tensor.data.byteOffset === 0 && tensor.data.byteLength === tensor.data.buffer.byteLength;
    const data = (whole ? tensor.data : tensor.data.slice()) as WireTensor['data'];
    owned[name] = { ...tensor, data };
    if (!buffers.includes(data.buffer as ArrayBuffer)) buffers.push(data.buffer as ArrayBuffer);
  }
  return { outputs: owned, buffers };
}

export function exposeServer(server: Served): { local: MessagePort; remote: MessagePort } {
  installRpcErrors();
  const { port1, port2 } = new MessageChannel();
  const api: ServerApi = {
    async infer(name: string, inputs: NamedTensors, options: RemoteInferOptions = {}) {
      if (typeof options !== 'object' || options === null) throw Errors.invalidArgument('options', 'must be an object');
      const { deadlineMs, priority } = options;
      // The inputs arrived as clones this thread owns (the client copied or moved them): taken as they are.
      const { outputs, buffers } = ownedOutputs(
        await server.infer(name, inputs, { deadlineMs, priority, transfer: true }),
      );
      return transfer(outputs, buffers);
    },
    async stats() {
      return server.stats();
    },
    async models() {
      return server.models;
    },
  };
  expose(api, nodeEndpoint(port1 as never));
  return { local: port1, remote: port2 };
}
