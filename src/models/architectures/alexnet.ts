/**
 * AlexNet as in torchvision (`torchvision.models.alexnet`, the "one weird trick" single-tower variant).
 * PyTorch's explicit conv padding becomes ZeroPadding + 'valid' where TF's 'same' would pad differently
 * (11x11 stride 4), and plain 'same' where it is identical (stride 1). The AdaptiveAvgPool2d(6) before the
 * classifier is reproduced exactly at every input size by `AdaptiveAvgPool2D` (an identity at 224, where the
 * features are already 6x6), so the classifier always sees 9216 features and the count never changes.
 */
import type { NetBuilder } from '../net.js';

export function alexnet<T>(net: NetBuilder<T>, size: number): T {
  let x = net.input(size, 3);
  x = net.zeroPad(x, 2);
  x = net.conv2d(x, { filters: 64, kernel: 11, strides: 4, activation: 'relu' });
  x = net.maxPool(x, { pool: 3, strides: 2 });
  x = net.conv2d(x, { filters: 192, kernel: 5, padding: 'same', activation: 'relu' });
  x = net.maxPool(x, { pool: 3, strides: 2 });
  x = net.conv2d(x, { filters: 384, kernel: 3, padding: 'same', activation: 'relu' });
  x = net.conv2d(x, { filters: 256, kernel: 3, padding: 'same', activation: 'relu' });
  x = net.conv2d(x, { filters: 256, kernel: 3, padding: 'same', activation: 'relu' });
  x = net.maxPool(x, { pool: 3, strides: 2 });
  x = net.adaptiveAvgPool(x, 6);
  x = net.flatten(x);
  x = net.dropout(x, 0.5);
  x = net.dense(x, 4096, 'relu');
  x = net.dropout(x, 0.5);
  x = net.dense(x, 4096, 'relu');
  return net.dense(x, 1000);
}
