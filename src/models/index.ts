/** The model zoo and model loading: what a session serves, and how it gets it. */
export { fileSystemHandler, readModelArtifacts } from './fs-handler.js';
export type { Between } from './layers-executor.js';
export {
  loadModel,
  wrapModel,
  type LoadedModel,
  type LoadOptions,
  type ModelKind,
  type ModelSource,
} from './loader.js';
export type { ModelSignature, NamedTensors, TensorSpec } from './signature.js';
export {
  buildZooModel,
  countKernels,
  describeZoo,
  describeZooWithKernels,
  isZooModel,
  parameterCount,
  weightCount,
  zooModels,
  type BuildOptions,
  type CountConvention,
  type DescribeOptions,
  type ZooModelInfo,
  type ZooModelName,
  type ZooRow,
} from './zoo.js';
