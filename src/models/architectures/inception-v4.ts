/**
 * Inception v4 (Szegedy et al. 2016, "Inception-v4, Inception-ResNet and the Impact of Residual
 * Connections") as in timm's `inception_v4` (itself Cadene's port of TF-slim's `inception_v4`), with 1000
 * classes and no aux head: conv without bias + BatchNorm (eps 1e-3) + ReLU. timm reports 42,679,816
 * parameters, PyTorch's count, which leaves out BatchNorm's running mean/variance buffers
 * (42,742,984 with them, as Keras would count). We match timm exactly. PyTorch's
 * explicit paddings are the TF-slim 'same'/'valid' choices; average pools exclude padding, as TF's 'same'
 * average pool does.
 */
import type { NetBuilder } from '../net.js';

function convBn<T>(
  net: NetBuilder<T>,
  x: T,
  filters: number,
  kernel: number | [number, number],
  strides = 1,
  same = false,
): T {
  x = net.conv2d(x, { filters, kernel, strides, padding: same ? 'same' : 'valid', useBias: false });
  return net.relu(net.batchNorm(x, { epsilon: 1e-3 }));
}

/** A 1x1 or a same-padded conv: every conv inside the repeated blocks. */
const c = <T>(net: NetBuilder<T>, x: T, filters: number, kernel: number | [number, number]): T =>
  convBn(net, x, filters, kernel, 1, true);

function blockA<T>(net: NetBuilder<T>, x: T): T {
  const b0 = c(net, x, 96, 1);
  const b1 = c(net, c(net, x, 64, 1), 96, 3);
  const b2 = c(net, c(net, c(net, x, 64, 1), 96, 3), 96, 3);
  const b3 = c(net, net.avgPool(x, { pool: 3, strides: 1, padding: 'same' }), 96, 1);
  return net.concat([b0, b1, b2, b3]);
}

function reductionA<T>(net: NetBuilder<T>, x: T): T {
  const b0 = convBn(net, x, 384, 3, 2);
  const b1 = convBn(net, c(net, c(net, x, 192, 1), 224, 3), 256, 3, 2);
  return net.concat([b0, b1, net.maxPool(x, { pool: 3, strides: 2 })]);
}

function blockB<T>(net: NetBuilder<T>, x: T): T {
  const b0 = c(net, x, 384, 1);
  const b1 = c(net, c(net, c(net, x, 192, 1), 224, [1, 7]), 256, [7, 1]);
  let b2 = c(net, c(net, c(net, x, 192, 1), 192, [7, 1]), 224, [1, 7]);
  b2 = c(net, c(net, b2, 224, [7, 1]), 256, [1, 7]);
  const b3 = c(net, net.avgPool(x, { pool: 3, strides: 1, padding: 'same' }), 128, 1);
  return net.concat([b0, b1, b2, b3]);
}

function reductionB<T>(net: NetBuilder<T>, x: T): T {
  const b0 = convBn(net, c(net, x, 192, 1), 192, 3, 2);
  let b1 = c(net, c(net, c(net, x, 256, 1), 256, [1, 7]), 320, [7, 1]);
  b1 = convBn(net, b1, 320, 3, 2);
  return net.concat([b0, b1, net.maxPool(x, { pool: 3, strides: 2 })]);
}

function blockC<T>(net: NetBuilder<T>, x: T): T {
  const b0 = c(net, x, 256, 1);
  const b1 = c(net, x, 384, 1);
  const b1cat = net.concat([c(net, b1, 256, [1, 3]), c(net, b1, 256, [3, 1])]);
  const b2 = c(net, c(net, c(net, x, 384, 1), 448, [3, 1]), 512, [1, 3]);
  const b2cat = net.concat([c(net, b2, 256, [1, 3]), c(net, b2, 256, [3, 1])]);
  const b3 = c(net, net.avgPool(x, { pool: 3, strides: 1, padding: 'same' }), 256, 1);
  return net.concat([b0, b1cat, b2cat, b3]);
}

export function inceptionV4<T>(net: NetBuilder<T>, size: number): T {
  let x = net.input(size, 3);
  x = convBn(net, x, 32, 3, 2);
  x = convBn(net, x, 32, 3);
  x = convBn(net, x, 64, 3, 1, true);
  // mixed_3a, mixed_4a, mixed_5a: the stem's parallel reductions
  x = net.concat([net.maxPool(x, { pool: 3, strides: 2 }), convBn(net, x, 96, 3, 2)]);
  const s0 = convBn(net, c(net, x, 64, 1), 96, 3);
  const s1 = convBn(net, c(net, c(net, c(net, x, 64, 1), 64, [1, 7]), 64, [7, 1]), 96, 3);
  x = net.concat([s0, s1]);
  x = net.concat([convBn(net, x, 192, 3, 2), net.maxPool(x, { pool: 3, strides: 2 })]);
  for (let i = 0; i < 4; i++) x = blockA(net, x);
  x = reductionA(net, x);
  for (let i = 0; i < 7; i++) x = blockB(net, x);
  x = reductionB(net, x);
  for (let i = 0; i < 3; i++) x = blockC(net, x);
  x = net.globalAvgPool(x);
  return net.dense(x, 1000);
}
