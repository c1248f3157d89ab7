/**
 * PyTorch's AdaptiveAvgPool2d as a TF.js layer, for torchvision's AlexNet. Bin i of n inputs covers
 * [floor(i*n/size), ceil((i+1)*n/size)), so bins may overlap and differ in width; no single TF pool
 * reproduces that, hence slice-and-mean per bin (separable: rows, then columns). Where the map is already
 * `size` wide (AlexNet at 224) the layer is an identity and launches no kernels.
 */
import * as tf from '../device/tfjs.js';

function poolAxis(x: tf.Tensor4D, axis: 1 | 2, size: number): tf.Tensor4D {
  const n = x.shape[axis];
  if (n === size) return x;
  const bins: tf.Tensor4D[] = [];
  for (let i = 0; i < size; i++) {
    const start = Math.floor((i * n) / size);
    const end = Math.ceil(((i + 1) * n) / size);
    const begin: [number, number, number, number] = [0, 0, 0, 0];
    const extent: [number, number, number, number] = [-1, -1, -1, -1];
    begin[axis] = start;
    extent[axis] = end - start;
    bins.push(tf.mean(tf.slice(x, begin, extent), axis, true) as tf.Tensor4D);
  }
  return tf.concat(bins, axis);
}

export interface AdaptiveAvgPool2DArgs {
  size: number;
  name?: string;
}

export class AdaptiveAvgPool2D extends tf.layers.Layer {
  static readonly className = 'AdaptiveAvgPool2D';
  readonly size: number;

  constructor(args: AdaptiveAvgPool2DArgs) {
    super(args);
    this.size = args.size;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    return [shape[0], this.size, this.size, shape[3]];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
      return poolAxis(poolAxis(x, 1, this.size), 2, this.size);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), size: this.size };
  }
}

// Registration lets `tf.loadLayersModel` rebuild a saved AlexNet.
tf.serialization.registerClass(AdaptiveAvgPool2D);
