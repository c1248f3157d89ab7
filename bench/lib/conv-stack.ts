/**
 * A plain conv stack as a TF.js model source (`{ module, options }`: built in the session's thread), with
 * seeded weights, so that the bench's main thread can build the same network and write it as ONNX
 * (onnx-export.ts): both engines then run one network with one set of weights.
 */
import type * as TF from '../../src/device/tfjs.js';

export interface ConvStackOptions {
  layers: number;
  channels: number;
  inputSize: number;
  seed?: number;
}

export function createModel(tf: typeof TF, options: ConvStackOptions): TF.LayersModel {
  const input = tf.input({ shape: [options.inputSize, options.inputSize, 3], name: 'input' });
  let x = input;
  for (let i = 0; i < options.layers; i++) {
    const conv = tf.layers.conv2d({
      name: `conv_${i + 1}`,
      filters: options.channels,
      kernelSize: 3,
      padding: 'same',
      activation: 'relu',
      kernelInitializer: tf.initializers.glorotUniform({ seed: (options.seed ?? 1) * 1000 + i }),
    });
    x = conv.apply(x) as TF.SymbolicTensor;
  }
  const pooled = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(x) as TF.SymbolicTensor;
  return tf.model({ inputs: input, outputs: pooled, name: 'conv_stack' });
}
