/** MobileNetV2 as in Keras applications (`keras.applications.mobilenet_v2`), alpha 1.0. */
import type { NetBuilder, PadSpec } from '../net.js';

const BN = { epsilon: 1e-3, momentum: 0.999 };

/** Keras' `correct_pad`: a stride-2 3x3 'valid' conv after padding one pixel less on the top/left when even. */
function correctPad(h: number, w: number): PadSpec {
  return [
    [h % 2, 1],
    [w % 2, 1],
  ];
}

function invertedResidual<T>(
  net: NetBuilder<T>,
  x: T,
  filters: number,
  strides: number,
  expansion: number,
  first: boolean,
): T {
  const [h, w, inChannels] = net.shapeOf(x);
  let y = x;
  if (!first) {
    y = net.conv2d(y, { filters: expansion * inChannels, kernel: 1, padding: 'same', useBias: false });
    y = net.relu(net.batchNorm(y, BN), 6);
  }
  if (strides === 2) y = net.zeroPad(y, correctPad(h, w));
  y = net.depthwiseConv2d(y, { kernel: 3, strides, useBias: false, padding: strides === 1 ? 'same' : 'valid' });
  y = net.relu(net.batchNorm(y, BN), 6);
  y = net.conv2d(y, { filters, kernel: 1, padding: 'same', useBias: false });
  y = net.batchNorm(y, BN);
  return inChannels === filters && strides === 1 ? net.add([x, y]) : y;
}

/** [filters, stride of the first block, expansion, blocks] per stage. */
const STAGES: [number, number, number, number][] = [
  [16, 1, 1, 1],
  [24, 2, 6, 2],
  [32, 2, 6, 3],
  [64, 2, 6, 4],
  [96, 1, 6, 3],
  [160, 2, 6, 3],
  [320, 1, 6, 1],
];

export function mobilenetV2<T>(net: NetBuilder<T>, size: number): T {
  let x = net.input(size, 3);
  x = net.conv2d(x, { filters: 32, kernel: 3, strides: 2, padding: 'same', useBias: false });
  x = net.relu(net.batchNorm(x, BN), 6);
  let first = true;
  for (const [filters, strides, expansion, blocks] of STAGES) {
    for (let i = 0; i < blocks; i++) {
      x = invertedResidual(net, x, filters, i === 0 ? strides : 1, expansion, first);
      first = false;
    }
  }
  x = net.conv2d(x, { filters: 1280, kernel: 1, useBias: false });
  x = net.relu(net.batchNorm(x, BN), 6);
  x = net.globalAvgPool(x);
  return net.dense(x, 1000, 'softmax');
}
