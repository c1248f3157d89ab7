/** ResNet v1 as in Keras applications (`keras.applications.resnet`): bias on every conv, BN eps 1.001e-5. */
import type { NetBuilder } from '../net.js';

const BN = { epsilon: 1.001e-5 };

function block<T>(net: NetBuilder<T>, x: T, filters: number, strides: number, convShortcut: boolean): T {
  let shortcut = x;
  if (convShortcut) {
    shortcut = net.conv2d(x, { filters: 4 * filters, kernel: 1, strides });
    shortcut = net.batchNorm(shortcut, BN);
  }
  let y = net.conv2d(x, { filters, kernel: 1, strides });
  y = net.relu(net.batchNorm(y, BN));
  y = net.conv2d(y, { filters, kernel: 3, padding: 'same' });
  y = net.relu(net.batchNorm(y, BN));
  y = net.conv2d(y, { filters: 4 * filters, kernel: 1 });
  y = net.batchNorm(y, BN);
  return net.relu(net.add([shortcut, y]));
}

function stack<T>(net: NetBuilder<T>, x: T, filters: number, blocks: number, strides: number): T {
  x = block(net, x, filters, strides, true);
  for (let i = 1; i < blocks; i++) x = block(net, x, filters, 1, false);
  return x;
}

/** `blocks` per stage: [3, 4, 6, 3] for ResNet-50, [3, 8, 36, 3] for ResNet-152. */
export function resnet<T>(net: NetBuilder<T>, size: number, blocks: [number, number, number, number]): T {
  let x = net.input(size, 3);
  x = net.zeroPad(x, 3);
  x = net.conv2d(x, { filters: 64, kernel: 7, strides: 2 });
  x = net.relu(net.batchNorm(x, BN));
  x = net.zeroPad(x, 1);
  x = net.maxPool(x, { pool: 3, strides: 2 });
  x = stack(net, x, 64, blocks[0], 1);
  x = stack(net, x, 128, blocks[1], 2);
  x = stack(net, x, 256, blocks[2], 2);
  x = stack(net, x, 512, blocks[3], 2);
  x = net.globalAvgPool(x);
  return net.dense(x, 1000, 'softmax');
}
