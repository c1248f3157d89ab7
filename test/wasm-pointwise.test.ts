import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { initBackend } from '../src/device/backend.js';
import * as tf from '../src/device/tfjs.js';

/**
 * Pointwise convolutions on wasm run as matrix products (src/device/wasm-pointwise.ts). The reference is the
 * backend's own convolution, reached with a dilation of 2: the same arithmetic for a 1×1 filter, but not a
 * case the rewrite takes.
 */
const s = suite('wasm: pointwise convolutions as matrix products');

interface WasmHeap {
  wasm: { HEAPU8: Uint8Array; _malloc(bytes: number): number; _free(pointer: number): void };
}

/** MiB of the wasm heap in use: allocates 4 KiB blocks until the heap would have to grow, then frees them. */
function wasmHeapUsedMb(): number {
  const { wasm } = tf.backend() as unknown as WasmHeap;
  const size = wasm.HEAPU8.buffer.byteLength;
  const blocks: number[] = [];
  for (;;) {
    const block = wasm._malloc(4096);
    if (wasm.HEAPU8.buffer.byteLength !== size) {
      wasm._free(block);
      break;
    }
    blocks.push(block);
  }
  for (const block of blocks) wasm._free(block);
  return (size - blocks.length * 4096) / 2 ** 20;
}

async function values(tensor: tf.Tensor): Promise<Float32Array> {
  const data = (await tensor.data()) as Float32Array;
  tensor.dispose();
  return data;
}

s.before(async () => {
  assert.is((await initBackend('wasm')).name, 'wasm');
});

s(
  'a 1×1 convolution gives the convolution’s exact output and its operator keeps one copy of the filter, not two',
  async () => {
    // A 2 MiB filter, so that what else a first run leaves in a heap that earlier tests used (~0.2 MiB,
    // measured in the full suite) cannot pass for a second copy of it.
    const x = tf.randomNormal([1, 16, 16, 512], 0, 1, 'float32', 1) as tf.Tensor4D;
    const reference = tf.randomNormal([1, 1, 512, 1024], 0, 1, 'float32', 2) as tf.Tensor4D;
    const filter = tf.randomNormal([1, 1, 512, 1024], 0, 1, 'float32', 2) as tf.Tensor4D;
    const filterMb = (512 * 1024 * 4) / 2 ** 20;
    try {
      let before = wasmHeapUsedMb();
      const expected = await values(tf.conv2d(x, reference, 1, 'same', 'NHWC', 2));
      const convolutionOperatorMb = wasmHeapUsedMb() - before;
      before = wasmHeapUsedMb();
      const actual = await values(tf.conv2d(x, filter, 1, 'same'));
      const pointwiseOperatorMb = wasmHeapUsedMb() - before;
      assert.equal(actual, expected);
      assert.ok(convolutionOperatorMb > 1.8 * filterMb, `the convolution's operator held ${convolutionOperatorMb} MiB`);
      assert.ok(pointwiseOperatorMb < 1.3 * filterMb, `the pointwise operator held ${pointwiseOperatorMb} MiB`);
    } finally {
      tf.dispose([x, reference, filter]);
    }
  },
);

s('fused with a bias and relu6, over a batch, with padding given as zeros: the same as the convolution', async () => {
  const x = tf.randomNormal([3, 7, 5, 24], 0, 1, 'float32', 3) as tf.Tensor4D;
  const filter = tf.randomNormal([1, 1, 24, 40], 0, 1, 'float32', 4) as tf.Tensor4D;
  const bias = tf.randomNormal([40], 0, 1, 'float32', 5) as tf.Tensor1D;
  const tensorsBefore = tf.memory().numTensors;
  try {
    const convolve = (dilations: number, pad: 'valid' | number) =>
      tf.fused.conv2d({ x, filter, strides: 1, pad, dilations, bias, activation: 'relu6' });
    const expected = convolve(2, 'valid');
    assert.equal(expected.shape, [3, 7, 5, 40]);
    const actual = convolve(1, 0);
    assert.equal(actual.shape, [3, 7, 5, 40]);
    assert.equal(await values(actual), await values(expected));
    assert.is(tf.memory().numTensors, tensorsBefore, 'no tensor left behind');
  } finally {
    tf.dispose([x, filter, bias]);
  }
});

s('what is not a plain pointwise convolution stays a convolution: strides, padding, larger filters', async () => {
  const x = tf.randomNormal([1, 8, 8, 4], 0, 1, 'float32', 6) as tf.Tensor4D;
  const pointwise = tf.randomNormal([1, 1, 4, 6], 0, 1, 'float32', 7) as tf.Tensor4D;
  const square = tf.randomNormal([3, 3, 4, 6], 0, 1, 'float32', 8) as tf.Tensor4D;
  try {
    const strided = tf.conv2d(x, pointwise, 2, 'same');
    assert.equal(strided.shape, [1, 4, 4, 6]);
    const padded = tf.conv2d(x, pointwise, 1, [
      [0, 0],
      [1, 1],
      [2, 2],
      [0, 0],
    ]);
    assert.equal(padded.shape, [1, 10, 12, 6]);
    const border = (await values(padded)).subarray(0, 12 * 6);
    assert.ok(
      border.every((v) => v === 0),
      'the padded rows are zeros',
    );
    const squared = tf.conv2d(x, square, 1, 'same');
    assert.equal(squared.shape, [1, 8, 8, 6]);
    tf.dispose([strided, squared]);
  } finally {
    tf.dispose([x, pointwise, square]);
  }
});

s.run();
