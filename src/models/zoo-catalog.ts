/**
 * The model zoo's catalogue: the architectures the Olympian paper serves, selectable by name, and what can
 * be known of them without TF.js — sizes, parameter counts (`CountingNet` allocates no weights) and whether an
 * input size is one the architecture accepts. The main thread checks configurations with it; building a
 * model (zoo.ts) happens in the session's thread.
 */
import { Errors } from '../protocol/errors.js';
import { alexnet } from './architectures/alexnet.js';
import { googlenet } from './architectures/googlenet.js';
import { inceptionV3 } from './architectures/inception-v3.js';
import { inceptionV4 } from './architectures/inception-v4.js';
import { mobilenetV2 } from './architectures/mobilenet-v2.js';
import { resnet } from './architectures/resnet.js';
import { vgg16 } from './architectures/vgg.js';
import { CountingNet, type NetBuilder, type WeightCount } from './net.js';

/**
 * Keras' `count_params()` counts every weight, BatchNorm's moving mean/variance included; PyTorch's
 * `sum(p.numel() for p in model.parameters())` leaves those buffers out. Each model's published count
 * follows its reference framework, so `parameterCount` does too.
 */
export type CountConvention = 'keras' | 'pytorch';

export interface ZooModelInfo {
  name: string;
  defaultInputSize: number;
  /** The smallest square input the architecture accepts (every feature map stays at least 1x1). */
  minInputSize: number;
  convention: CountConvention;
  description: string;
}

interface Entry extends ZooModelInfo {
  define: <T>(net: NetBuilder<T>, size: number) => T;
}

const ENTRIES: Entry[] = [
  {
    name: 'alexnet',
    defaultInputSize: 224,
    minInputSize: 63,
    convention: 'pytorch',
    description: 'AlexNet, torchvision (adaptive average pool to 6x6 before the classifier)',
    define: alexnet,
  },
  {
    name: 'googlenet',
    defaultInputSize: 224,
    minInputSize: 15,
    convention: 'pytorch',
    description: 'GoogLeNet (Inception v1), torchvision: BatchNorm, no aux heads',
    define: googlenet,
  },
  {
    name: 'inception_v3',
    defaultInputSize: 299,
    minInputSize: 75,
    convention: 'keras',
    description: 'Inception v3, Keras applications',
    define: inceptionV3,
  },
  {
    name: 'inception_v4',
    defaultInputSize: 299,
    minInputSize: 75,
    convention: 'pytorch',
    description: 'Inception v4, timm (port of TF-slim), 1000 classes',
    define: inceptionV4,
  },
  {
    name: 'mobilenet_v2',
    defaultInputSize: 224,
    minInputSize: 32,
    convention: 'keras',
    description: 'MobileNetV2 alpha 1.0, Keras applications',
    define: mobilenetV2,
  },
  {
    name: 'resnet50',
    defaultInputSize: 224,
    minInputSize: 32,
    convention: 'keras',
    description: 'ResNet-50 v1, Keras applications',
    define: (net, size) => resnet(net, size, [3, 4, 6, 3]),
  },
  {
    name: 'resnet152',
    defaultInputSize: 224,
    minInputSize: 32,
    convention: 'keras',
    description: 'ResNet-152 v1, Keras applications',
    define: (net, size) => resnet(net, size, [3, 8, 36, 3]),
  },
  {
    name: 'vgg16',
    defaultInputSize: 224,
    minInputSize: 32,
    convention: 'keras',
    description: 'VGG16, Keras applications (classifier size depends on the input)',
    define: vgg16,
  },
];

export type ZooModelName =
  | 'alexnet'
  | 'googlenet'
  | 'inception_v3'
  | 'inception_v4'
  | 'mobilenet_v2'
  | 'resnet50'
  | 'resnet152'
  | 'vgg16';

export const zooModels: readonly ZooModelInfo[] = ENTRIES.map(({ define: _define, ...info }) => Object.freeze(info));

export function isZooModel(name: string): name is ZooModelName {
  return ENTRIES.some((e) => e.name === name);
}

export function zooEntry(name: string): Entry {
  const entry = ENTRIES.find((e) => e.name === name);
  if (entry === undefined) throw Errors.notFound('zoo model', name);
  return entry;
}

/** A zoo source as a string, `zoo:<name>[@<inputSize>]`; null if it is not spelt so. */
export function parseZooSource(source: string): { zoo: string; inputSize?: number } | null {
  const match = /^zoo:([a-z0-9_]+)(?:@(\d+))?$/.exec(source);
  if (!match) return null;
  return match[2] === undefined ? { zoo: match[1] } : { zoo: match[1], inputSize: Number(match[2]) };
}

/**
 * What is wrong with building zoo model `name` at `inputSize`, from layer shapes alone (every feature map
 * must stay at least 1x1): the key at fault and why, or null when it can be built.
 */
export function zooProblem(name: string, inputSize?: number): { key: 'zoo' | 'inputSize'; why: string } | null {
  const entry = ENTRIES.find((e) => e.name === name);
  if (!entry)
    return { key: 'zoo', why: `${JSON.stringify(name)} is not a zoo model (${ENTRIES.map((e) => e.name).join(', ')})` };
  const size = inputSize ?? entry.defaultInputSize;
  if (!Number.isSafeInteger(size) || size < entry.minInputSize)
    return { key: 'inputSize', why: `must be an integer >= ${entry.minInputSize} for ${name} (got ${size})` };
  try {
    entry.define(new CountingNet(name), size);
  } catch (error) {
    return { key: 'inputSize', why: `${size} is too small for ${name}: ${(error as Error).message}` };
  }
  return null;
}

export function resolveInputSize(entry: ZooModelInfo, inputSize?: number): number {
  const size = inputSize ?? entry.defaultInputSize;
  if (!Number.isInteger(size) || size < entry.minInputSize) {
    throw Errors.invalidArgument(
      'inputSize',
      `must be an integer >= ${entry.minInputSize} for ${entry.name} (got ${size})`,
    );
  }
  return size;
}

/** Trainable and non-trainable weights at `inputSize`, from layer shapes alone. */
export function weightCount(name: string, inputSize?: number): WeightCount {
  const entry = zooEntry(name);
  const net = new CountingNet(name);
  entry.define(net, inputSize ?? entry.defaultInputSize);
  return { ...net.count };
}

/** The count the reference implementation publishes (see `CountConvention`). */
export function parameterCount(name: string, inputSize?: number): number {
  const { trainable, nonTrainable } = weightCount(name, inputSize);
  return zooEntry(name).convention === 'keras' ? trainable + nonTrainable : trainable;
}

export interface ZooRow {
  name: string;
  description: string;
  defaultInputSize: number;
  inputSize: number;
  /** Null where `inputSize` is below what the architecture accepts (see `error`). */
  parameters: number | null;
  kernelsPerInference?: number;
  error?: string;
}

export interface DescribeOptions {
  /** Every model at this size; by default each at its own default size. */
  inputSize?: number;
}

/** One row per zoo model, counts only: cheap, allocates nothing. */
export function describeZoo(options: DescribeOptions = {}): ZooRow[] {
  return zooModels.map((m) => {
    const inputSize = options.inputSize ?? m.defaultInputSize;
    const row = { name: m.name, description: m.description, defaultInputSize: m.defaultInputSize, inputSize };
    try {
      return { ...row, parameters: parameterCount(m.name, inputSize) };
    } catch (error) {
      return { ...row, parameters: null, error: (error as Error).message };
    }
  });
}
