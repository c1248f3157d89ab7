/** TF.js with the graph-model converter: what graph models are loaded with and what module factories get. */
export * from './tfjs.js';
export * from '@tensorflow/tfjs-converter';
// Named here so it is the converter's class, not tfjs.ts's type-only name for it.
export { GraphModel } from '@tensorflow/tfjs-converter';
