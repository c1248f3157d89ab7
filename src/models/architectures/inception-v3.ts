/** Inception v3 as in Keras applications (`keras.applications.inception_v3`), without the aux head. */
import type { NetBuilder, Padding } from '../net.js';

function convBn<T>(
  net: NetBuilder<T>,
  x: T,
  filters: number,
  kh: number,
  kw: number,
  strides = 1,
  padding: Padding = 'same',
): T {
  x = net.conv2d(x, { filters, kernel: [kh, kw], strides, padding, useBias: false });
  return net.relu(net.batchNorm(x, { epsilon: 1e-3, scale: false }));
}

const samePool = { pool: 3, strides: 1, padding: 'same' } as const;

function mixed35<T>(net: NetBuilder<T>, x: T, poolFilters: number): T {
  const b1 = convBn(net, x, 64, 1, 1);
  const b5 = convBn(net, convBn(net, x, 48, 1, 1), 64, 5, 5);
  let b3 = convBn(net, x, 64, 1, 1);
  b3 = convBn(net, convBn(net, b3, 96, 3, 3), 96, 3, 3);
  const bp = convBn(net, net.avgPool(x, samePool), poolFilters, 1, 1);
  return net.concat([b1, b5, b3, bp]);
}

function mixed17<T>(net: NetBuilder<T>, x: T, c: number): T {
  const b1 = convBn(net, x, 192, 1, 1);
  let b7 = convBn(net, x, c, 1, 1);
  b7 = convBn(net, convBn(net, b7, c, 1, 7), 192, 7, 1);
  let bd = convBn(net, x, c, 1, 1);
  bd = convBn(net, convBn(net, bd, c, 7, 1), c, 1, 7);
  bd = convBn(net, convBn(net, bd, c, 7, 1), 192, 1, 7);
  const bp = convBn(net, net.avgPool(x, samePool), 192, 1, 1);
  return net.concat([b1, b7, bd, bp]);
}

function mixed8x8<T>(net: NetBuilder<T>, x: T): T {
  const b1 = convBn(net, x, 320, 1, 1);
  const b3 = convBn(net, x, 384, 1, 1);
  const b3cat = net.concat([convBn(net, b3, 384, 1, 3), convBn(net, b3, 384, 3, 1)]);
  const bd = convBn(net, convBn(net, x, 448, 1, 1), 384, 3, 3);
  const bdcat = net.concat([convBn(net, bd, 384, 1, 3), convBn(net, bd, 384, 3, 1)]);
  const bp = convBn(net, net.avgPool(x, samePool), 192, 1, 1);
  return net.concat([b1, b3cat, bdcat, bp]);
}

export function inceptionV3<T>(net: NetBuilder<T>, size: number): T {
  let x = net.input(size, 3);
  x = convBn(net, x, 32, 3, 3, 2, 'valid');
  x = convBn(net, x, 32, 3, 3, 1, 'valid');
  x = convBn(net, x, 64, 3, 3);
  x = net.maxPool(x, { pool: 3, strides: 2 });
  x = convBn(net, x, 80, 1, 1, 1, 'valid');
  x = convBn(net, x, 192, 3, 3, 1, 'valid');
  x = net.maxPool(x, { pool: 3, strides: 2 });
  x = mixed35(net, x, 32);
  x = mixed35(net, x, 64);
  x = mixed35(net, x, 64);
  // mixed3: 35x35 -> 17x17
  const r3 = convBn(net, x, 384, 3, 3, 2, 'valid');
  let r3d = convBn(net, convBn(net, x, 64, 1, 1), 96, 3, 3);
  r3d = convBn(net, r3d, 96, 3, 3, 2, 'valid');
  x = net.concat([r3, r3d, net.maxPool(x, { pool: 3, strides: 2 })]);
  for (const c of [128, 160, 160, 192]) x = mixed17(net, x, c);
  // mixed8: 17x17 -> 8x8
  const r8 = convBn(net, convBn(net, x, 192, 1, 1), 320, 3, 3, 2, 'valid');
  let r8d = convBn(net, x, 192, 1, 1);
  r8d = convBn(net, convBn(net, r8d, 192, 1, 7), 192, 7, 1);
  r8d = convBn(net, r8d, 192, 3, 3, 2, 'valid');
  x = net.concat([r8, r8d, net.maxPool(x, { pool: 3, strides: 2 })]);
  x = mixed8x8(net, x);
  x = mixed8x8(net, x);
  x = net.globalAvgPool(x);
  return net.dense(x, 1000, 'softmax');
}
