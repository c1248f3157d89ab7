/**
 * GoogLeNet as in torchvision (`torchvision.models.googlenet`, aux_logits=False): BatchNorm (eps 1e-3) after
 * every conv and a 3x3 where the paper's branch has a 5x5. PyTorch's ceil-mode max pools map exactly onto
 * TF pools: a stride-2 3x3 pool is 'same' on an even map and 'valid' on an odd one, the 2x2 pool and the
 * stride-1 branch pool are 'same' (TF's 'same' max pool ignores padding as PyTorch's -inf padding does).
 */
import type { NetBuilder } from '../net.js';

function convBn<T>(net: NetBuilder<T>, x: T, filters: number, kernel: number): T {
  x = net.conv2d(x, { filters, kernel, padding: 'same', useBias: false });
  return net.relu(net.batchNorm(x, { epsilon: 1e-3 }));
}

function ceilPool<T>(net: NetBuilder<T>, x: T): T {
  const [h, w] = net.shapeOf(x);
  // Odd and even maps in one tensor would need asymmetric handling; square inputs never produce that.
  const padding = h % 2 === 0 && w % 2 === 0 ? 'same' : 'valid';
  return net.maxPool(x, { pool: 3, strides: 2, padding });
}

function inception<T>(
  net: NetBuilder<T>,
  x: T,
  c1: number,
  c3r: number,
  c3: number,
  c5r: number,
  c5: number,
  pool: number,
): T {
  const b1 = convBn(net, x, c1, 1);
  const b2 = convBn(net, convBn(net, x, c3r, 1), c3, 3);
  const b3 = convBn(net, convBn(net, x, c5r, 1), c5, 3);
  const b4 = convBn(net, net.maxPool(x, { pool: 3, strides: 1, padding: 'same' }), pool, 1);
  return net.concat([b1, b2, b3, b4]);
}

export function googlenet<T>(net: NetBuilder<T>, size: number): T {
  let x = net.input(size, 3);
  x = net.zeroPad(x, 3);
  x = net.conv2d(x, { filters: 64, kernel: 7, strides: 2, useBias: false });
  x = net.relu(net.batchNorm(x, { epsilon: 1e-3 }));
  x = ceilPool(net, x);
  x = convBn(net, x, 64, 1);
  x = convBn(net, x, 192, 3);
  x = ceilPool(net, x);
  x = inception(net, x, 64, 96, 128, 16, 32, 32);
  x = inception(net, x, 128, 128, 192, 32, 96, 64);
  x = ceilPool(net, x);
  x = inception(net, x, 192, 96, 208, 16, 48, 64);
  x = inception(net, x, 160, 112, 224, 24, 64, 64);
  x = inception(net, x, 128, 128, 256, 24, 64, 64);
  x = inception(net, x, 112, 144, 288, 32, 64, 64);
  x = inception(net, x, 256, 160, 320, 32, 128, 128);
  x = net.maxPool(x, { pool: 2, strides: 2, padding: 'same' });
  x = inception(net, x, 256, 160, 320, 32, 128, 128);
  x = inception(net, x, 384, 192, 384, 48, 128, 128);
  x = net.globalAvgPool(x);
  x = net.dropout(x, 0.2);
  return net.dense(x, 1000);
}
