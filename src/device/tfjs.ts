/**
 * TF.js as sessions use it: core and layers, with the cpu backend (the `cpu` device, and where webgpu forwards
 * small ops). The union package `@tensorflow/tfjs` adds the webgl backend and tf.data, which a Node session
 * never uses and which cost every worker thread about 20 MiB to load. The graph-model converter is in
 * tfjs-graph.ts, loaded only by a session that serves a graph model or a module source: its source (which V8
 * keeps) and its objects measured ~2.7 MiB in a thread, below the scale bench's noise but paid by every session.
 */
export * from '@tensorflow/tfjs-core';
export * from '@tensorflow/tfjs-layers';
export type { GraphModel } from '@tensorflow/tfjs-converter';
import '@tensorflow/tfjs-backend-cpu';
