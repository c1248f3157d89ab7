/** VGG16 as in Keras applications: the fully connected head sees the flattened last feature map, so its
 * parameter count (and only that) depends on the input size. */
import type { NetBuilder } from '../net.js';

export function vgg16<T>(net: NetBuilder<T>, size: number): T {
  let x = net.input(size, 3);
  for (const [filters, convs] of [
    [64, 2],
    [128, 2],
    [256, 3],
    [512, 3],
    [512, 3],
  ] as const) {
    for (let i = 0; i < convs; i++) x = net.conv2d(x, { filters, kernel: 3, padding: 'same', activation: 'relu' });
    x = net.maxPool(x, { pool: 2, strides: 2 });
  }
  x = net.flatten(x);
  x = net.dense(x, 4096, 'relu');
  x = net.dense(x, 4096, 'relu');
  return net.dense(x, 1000, 'softmax');
}
