/**
 * The `NetBuilder` that wires real `tf.layers`. TF.js's default initializers draw from an unseeded RNG, so
 * every kernel gets a seeded Glorot-uniform initializer (Keras' default kind) whose seed derives from the
 * model seed and the layer's position: the same seed and input size give bit-identical weights. Layer
 * names are positional too, so two builds of one model name their weights alike.
 */
import * as tf from '../device/tfjs.js';
import { AdaptiveAvgPool2D } from './adaptive-pool.js';
import type { BatchNormOptions, ConvOptions, DepthwiseOptions, NetBuilder, PadSpec, PoolOptions } from './net.js';

type Sym = tf.SymbolicTensor;

/** splitmix32: decorrelates consecutive layer seeds so neighbouring layers do not share streams. */
export function deriveSeed(seed: number, index: number): number {
  let z = (Math.imul(seed >>> 0, 0x9e3779b9) + Math.imul(index + 1, 0x85ebca6b)) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x21f0aaad) >>> 0;
  z = Math.imul(z ^ (z >>> 15), 0x735a2d97) >>> 0;
  return (z ^ (z >>> 15)) >>> 0;
}

export class LayersNet implements NetBuilder<Sym> {
  private readonly counts = new Map<string, number>();
  private seeded = 0;
  private inputTensor: Sym | undefined;

  constructor(private readonly seed: number) {}

  private name(kind: string): string {
    const n = (this.counts.get(kind) ?? 0) + 1;
    this.counts.set(kind, n);
    return `${kind}_${n}`;
  }

  private init(): ReturnType<typeof tf.initializers.glorotUniform> {
    return tf.initializers.glorotUniform({ seed: deriveSeed(this.seed, this.seeded++) });
  }

  private one(layer: tf.layers.Layer, x: Sym | Sym[]): Sym {
    return layer.apply(x) as Sym;
  }

  input(size: number, channels: number): Sym {
    this.inputTensor = tf.input({ shape: [size, size, channels], name: 'input' });
    return this.inputTensor;
  }

  conv2d(x: Sym, o: ConvOptions): Sym {
    return this.one(
      tf.layers.conv2d({
        name: this.name('conv'),
        filters: o.filters,
        kernelSize: o.kernel,
        strides: o.strides ?? 1,
        padding: o.padding ?? 'valid',
        useBias: o.useBias ?? true,
        activation: o.activation ?? 'linear',
        kernelInitializer: this.init(),
      }),
      x,
    );
  }

  depthwiseConv2d(x: Sym, o: DepthwiseOptions): Sym {
    return this.one(
      tf.layers.depthwiseConv2d({
        name: this.name('dwconv'),
        kernelSize: o.kernel,
        strides: o.strides ?? 1,
        padding: o.padding ?? 'valid',
        useBias: o.useBias ?? true,
        depthwiseInitializer: this.init(),
      }),
      x,
    );
  }

  batchNorm(x: Sym, o: BatchNormOptions): Sym {
    return this.one(
      tf.layers.batchNormalization({
        name: this.name('bn'),
        epsilon: o.epsilon,
        momentum: o.momentum ?? 0.99,
        scale: o.scale ?? true,
      }),
      x,
    );
  }

  relu(x: Sym, maxValue?: number): Sym {
    const name = this.name('relu');
    return this.one(
      maxValue === undefined ? tf.layers.activation({ name, activation: 'relu' }) : tf.layers.reLU({ name, maxValue }),
      x,
    );
  }

  maxPool(x: Sym, o: PoolOptions): Sym {
    return this.one(
      tf.layers.maxPooling2d({
        name: this.name('maxpool'),
        poolSize: o.pool,
        strides: o.strides,
        padding: o.padding ?? 'valid',
      }),
      x,
    );
  }

  avgPool(x: Sym, o: PoolOptions): Sym {
    return this.one(
      tf.layers.averagePooling2d({
        name: this.name('avgpool'),
        poolSize: o.pool,
        strides: o.strides,
        padding: o.padding ?? 'valid',
      }),
      x,
    );
  }

  globalAvgPool(x: Sym): Sym {
    return this.one(tf.layers.globalAveragePooling2d({ name: this.name('gap') }), x);
  }

  adaptiveAvgPool(x: Sym, size: number): Sym {
    return this.one(new AdaptiveAvgPool2D({ name: this.name('adaptive_avgpool'), size }), x);
  }

  zeroPad(x: Sym, pad: PadSpec): Sym {
    return this.one(tf.layers.zeroPadding2d({ name: this.name('pad'), padding: pad }), x);
  }

  flatten(x: Sym): Sym {
    return this.one(tf.layers.flatten({ name: this.name('flatten') }), x);
  }

  dense(x: Sym, units: number, activation: 'relu' | 'softmax' | 'linear' = 'linear'): Sym {
    return this.one(
      tf.layers.dense({ name: this.name('dense'), units, activation, kernelInitializer: this.init() }),
      x,
    );
  }

  dropout(x: Sym, rate: number): Sym {
    return this.one(tf.layers.dropout({ name: this.name('dropout'), rate }), x);
  }

  concat(xs: Sym[]): Sym {
    return this.one(tf.layers.concatenate({ name: this.name('concat') }), xs);
  }

  add(xs: Sym[]): Sym {
    return this.one(tf.layers.add({ name: this.name('add') }), xs);
  }

  shapeOf(x: Sym): number[] {
    return x.shape.slice(1) as number[];
  }

  model(output: Sym, name: string): tf.LayersModel {
    if (this.inputTensor === undefined) throw new Error('LayersNet.model called before input');
    return tf.model({ inputs: this.inputTensor, outputs: output, name });
  }
}
