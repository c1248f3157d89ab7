/**
 * Each zoo architecture is written once against `NetBuilder<T>` and run by two builders: `CountingNet`
 * (here) only tracks shapes and weight counts, so a parameter count at any input size costs microseconds and
 * no memory; `LayersNet` (layers-net.ts) wires real `tf.layers`. One description therefore cannot drift
 * from the other.
 */
import { Errors } from '../protocol/errors.js';

export type Padding = 'same' | 'valid';
/** `[[top, bottom], [left, right]]`, or one number for all four sides. */
export type PadSpec = number | [[number, number], [number, number]];

export interface ConvOptions {
  filters: number;
  kernel: number | [number, number];
  strides?: number;
  padding?: Padding;
  useBias?: boolean;
  activation?: 'relu' | 'linear';
}

export interface DepthwiseOptions {
  kernel: number;
  strides?: number;
  padding?: Padding;
  useBias?: boolean;
}

export interface BatchNormOptions {
  epsilon: number;
  momentum?: number;
  /** Keras' `scale=False` (Inception v3) drops gamma: the following ReLU makes it redundant. */
  scale?: boolean;
}

export interface PoolOptions {
  pool: number;
  strides: number;
  padding?: Padding;
}

export interface NetBuilder<T> {
  input(size: number, channels: number): T;
  conv2d(x: T, o: ConvOptions): T;
  depthwiseConv2d(x: T, o: DepthwiseOptions): T;
  batchNorm(x: T, o: BatchNormOptions): T;
  relu(x: T, maxValue?: number): T;
  maxPool(x: T, o: PoolOptions): T;
  avgPool(x: T, o: PoolOptions): T;
  globalAvgPool(x: T): T;
  /** PyTorch's AdaptiveAvgPool2d to `size` x `size`. */
  adaptiveAvgPool(x: T, size: number): T;
  zeroPad(x: T, pad: PadSpec): T;
  flatten(x: T): T;
  dense(x: T, units: number, activation?: 'relu' | 'softmax' | 'linear'): T;
  dropout(x: T, rate: number): T;
  concat(xs: T[]): T;
  add(xs: T[]): T;
  /** Shape without the batch dimension. */
  shapeOf(x: T): number[];
}

export interface WeightCount {
  trainable: number;
  nonTrainable: number;
}

const pair = (k: number | [number, number]): [number, number] => (typeof k === 'number' ? [k, k] : k);
const pads = (p: PadSpec): [[number, number], [number, number]] =>
  typeof p === 'number'
    ? [
        [p, p],
        [p, p],
      ]
    : p;

/** A symbolic value for the counter: just its shape. */
export interface Shaped {
  shape: number[];
}

export class CountingNet implements NetBuilder<Shaped> {
  readonly count: WeightCount = { trainable: 0, nonTrainable: 0 };

  constructor(private readonly model: string) {}

  private out(h: number, w: number, c: number): Shaped {
    if (!(h >= 1 && w >= 1)) {
      throw Errors.invalidArgument('inputSize', `is too small for ${this.model}: a feature map shrank to ${h}x${w}`);
    }
    return { shape: [h, w, c] };
  }

  private spatial(x: Shaped, kernel: [number, number], strides: number, padding: Padding): [number, number] {
    const [h, w] = x.shape;
    if (padding === 'same') return [Math.ceil(h / strides), Math.ceil(w / strides)];
    return [Math.floor((h - kernel[0]) / strides) + 1, Math.floor((w - kernel[1]) / strides) + 1];
  }

  input(size: number, channels: number): Shaped {
    return this.out(size, size, channels);
  }

  conv2d(x: Shaped, o: ConvOptions): Shaped {
    const k = pair(o.kernel);
    const cin = x.shape[2];
    this.count.trainable += k[0] * k[1] * cin * o.filters + (o.useBias === false ? 0 : o.filters);
    const [h, w] = this.spatial(x, k, o.strides ?? 1, o.padding ?? 'valid');
    return this.out(h, w, o.filters);
  }

  depthwiseConv2d(x: Shaped, o: DepthwiseOptions): Shaped {
    const cin = x.shape[2];
    this.count.trainable += o.kernel * o.kernel * cin + (o.useBias === false ? 0 : cin);
    const [h, w] = this.spatial(x, [o.kernel, o.kernel], o.strides ?? 1, o.padding ?? 'valid');
    return this.out(h, w, cin);
  }

  batchNorm(x: Shaped, o: BatchNormOptions): Shaped {
    const c = x.shape[x.shape.length - 1];
    this.count.trainable += (o.scale === false ? 1 : 2) * c;
    this.count.nonTrainable += 2 * c;
    return x;
  }

  relu(x: Shaped): Shaped {
    return x;
  }

  maxPool(x: Shaped, o: PoolOptions): Shaped {
    const [h, w] = this.spatial(x, [o.pool, o.pool], o.strides, o.padding ?? 'valid');
    return this.out(h, w, x.shape[2]);
  }

  avgPool(x: Shaped, o: PoolOptions): Shaped {
    return this.maxPool(x, o);
  }

  globalAvgPool(x: Shaped): Shaped {
    return { shape: [x.shape[2]] };
  }

  adaptiveAvgPool(x: Shaped, size: number): Shaped {
    return this.out(size, size, x.shape[2]);
  }

  zeroPad(x: Shaped, pad: PadSpec): Shaped {
    const [[t, b], [l, r]] = pads(pad);
    return this.out(x.shape[0] + t + b, x.shape[1] + l + r, x.shape[2]);
  }

  flatten(x: Shaped): Shaped {
    return { shape: [x.shape.reduce((a, b) => a * b, 1)] };
  }

  dense(x: Shaped, units: number): Shaped {
    this.count.trainable += x.shape[x.shape.length - 1] * units + units;
    return { shape: [...x.shape.slice(0, -1), units] };
  }

  dropout(x: Shaped): Shaped {
    return x;
  }

  concat(xs: Shaped[]): Shaped {
    const [first] = xs;
    const channels = xs.reduce((sum, x) => sum + x.shape[x.shape.length - 1], 0);
    for (const x of xs) {
      if (x.shape.slice(0, -1).join() !== first.shape.slice(0, -1).join()) {
        throw Errors.invalidArgument('inputSize', `gives mismatched branch shapes in ${this.model}`);
      }
    }
    return { shape: [...first.shape.slice(0, -1), channels] };
  }

  add(xs: Shaped[]): Shaped {
    return xs[0];
  }

  shapeOf(x: Shaped): number[] {
    return x.shape;
  }
}
