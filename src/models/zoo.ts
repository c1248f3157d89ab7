/**
 * Zoo models built with real (seeded) weights by `LayersNet`, in the thread that will run them; what is known
 * without building them is in zoo-catalog.ts.
 */
import * as tf from '../device/tfjs.js';
import { CountingNet } from './net.js';
import { LayersNet } from './layers-net.js';
import { describeZoo, resolveInputSize, zooEntry, type DescribeOptions, type ZooRow } from './zoo-catalog.js';

export * from './zoo-catalog.js';

export interface BuildOptions {
  inputSize?: number;
  /** Same seed, same input size: bit-identical weights. Default 0. */
  seed?: number;
}

/** Builds the model with real (seeded) weights; the caller owns it and must `dispose()` it. */
export function buildZooModel(name: string, options: BuildOptions = {}): tf.LayersModel {
  const entry = zooEntry(name);
  const size = resolveInputSize(entry, options.inputSize);
  // Shape-check first: a build that failed halfway would leave its weights allocated.
  entry.define(new CountingNet(name), size);
  const net = new LayersNet(options.seed ?? 0);
  return net.model(entry.define(net, size), name);
}

/**
 * The number of kernels TF.js launches for one `predict` of a `batch`-sized input on the current backend,
 * counted by `tf.profile`. Needs a full build, so it costs the model's memory for the duration.
 */
export async function countKernels(name: string, options: BuildOptions & { batch?: number } = {}): Promise<number> {
  const model = buildZooModel(name, options);
  try {
    const size = model.inputs[0].shape[1] as number;
    const x = tf.zeros([options.batch ?? 1, size, size, 3]);
    try {
      const info = await tf.profile(() => model.predictOnBatch(x) as tf.Tensor);
      tf.dispose(info.result as tf.Tensor);
      return info.kernels.length;
    } finally {
      x.dispose();
    }
  } finally {
    model.dispose();
  }
}

/** `describeZoo` plus kernels per inference: builds and runs each model in turn, one at a time. */
export async function describeZooWithKernels(options: DescribeOptions & { seed?: number } = {}): Promise<ZooRow[]> {
  const rows = describeZoo(options);
  for (const row of rows) {
    if (row.parameters === null) continue;
    row.kernelsPerInference = await countKernels(row.name, { inputSize: row.inputSize, seed: options.seed });
  }
  return rows;
}
