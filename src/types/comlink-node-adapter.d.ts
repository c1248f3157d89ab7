// comlink ships its Node adapter (worker_threads MessagePort → Endpoint) without type declarations.
declare module 'comlink/dist/esm/node-adapter.mjs' {
  import type { Endpoint } from 'comlink';
  export default function nodeEndpoint(port: unknown): Endpoint;
}
