/**
 * TF.js as sessions use it: core, layers and the graph-model converter, with the cpu backend (the `cpu`
 * device, and where webgpu forwards small ops). The union package `@tensorflow/tfjs` adds the webgl backend
 * and tf.data, which a Node session never uses and which cost every worker thread about 20 MiB to load.
 */
export * from '@tensorflow/tfjs-core';
export * from '@tensorflow/tfjs-layers';
export * from '@tensorflow/tfjs-converter';
import '@tensorflow/tfjs-backend-cpu';
