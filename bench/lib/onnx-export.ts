/**
 * A built TF.js layers model (a zoo architecture, or any model of the same layers) written as an ONNX model
 * with the same weights, so that both engines run the same network: the input stays NHWC as TF.js takes it,
 * is transposed to NCHW (ONNX's convolution layout) once, and back to NHWC before a Flatten so that the dense
 * weights see features in TF.js's order. 'same' padding becomes the explicit pads TF computes (more at the
 * end when odd). Layers: Conv2D, DepthwiseConv2D, BatchNormalization, Activation, ReLU, pooling (max,
 * average, global, an identity AdaptiveAvgPool2D), ZeroPadding2D, Flatten, Dense, Dropout, Concatenate, Add.
 */
import * as tf from '../../src/device/tfjs.js';
import { OnnxGraph } from './onnx-builder.js';

type Shape = number[];

interface Value {
  name: string;
  /** Without the batch: [h, w, c] in TF.js's terms, whatever the ONNX layout. */
  shape: Shape;
  /** 4-D values are NCHW in the graph. */
  nchw: boolean;
}

const pair = (v: number | number[]) => (Array.isArray(v) ? [v[0], v[1] ?? v[0]] : [v, v]);

/** TF's 'same' padding for one spatial axis: [begin, end], the odd pixel at the end. */
function samePads(size: number, kernel: number, stride: number): [number, number] {
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + kernel - size, 0);
  return [Math.floor(total / 2), total - Math.floor(total / 2)];
}

function pads(padding: string, shape: Shape, kernel: number[], strides: number[]): number[] {
  if (padding !== 'same') return [0, 0, 0, 0];
  const [top, bottom] = samePads(shape[0], kernel[0], strides[0]);
  const [left, right] = samePads(shape[1], kernel[1], strides[1]);
  return [top, left, bottom, right];
}

/** A kernel of shape [kh, kw, cin, cout] as ONNX's [cout, cin, kh, kw]. */
function convWeights(kernel: tf.Tensor, depthwise: boolean): { data: Float32Array; dims: number[] } {
  const [kh, kw, cin, mult] = kernel.shape;
  const transposed = tf.tidy(() =>
    depthwise
      ? tf.transpose(tf.reshape(kernel, [kh, kw, cin * mult, 1]), [2, 3, 0, 1])
      : tf.transpose(kernel, [3, 2, 0, 1]),
  );
  const data = transposed.dataSync() as Float32Array;
  const dims = transposed.shape;
  transposed.dispose();
  return { data: data.slice(), dims };
}

const floats = (tensor: tf.Tensor) => (tensor.dataSync() as Float32Array).slice();

export function exportLayersModel(model: tf.LayersModel): OnnxGraph {
  const g = new OnnxGraph(13);
  const values = new Map<string, Value>();
  const inputShape = model.inputs[0].shape.slice(1) as Shape;
  const nhwc = g.input('input', 'float32', ['batch', ...inputShape]);
  const inputName = model.inputs[0].name;
  values.set(inputName, { name: g.node('Transpose', [nhwc], { perm: [0, 3, 1, 2] }), shape: inputShape, nchw: true });
  const constant = (data: Float32Array, dims: number[]) => g.constant('float32', dims, data);
  for (const layer of model.layers) {
    const className = layer.getClassName();
    if (className === 'InputLayer') continue;
    const config = layer.getConfig() as Record<string, unknown>;
    const inputs = (Array.isArray(layer.input) ? layer.input : [layer.input]).map((t) => values.get(t.name)!);
    const outShape = ((layer.outputShape as Shape).slice(1) as Shape).map(Number);
    const x = inputs[0];
    const weights = layer.getWeights();
    const put = (name: string, nchw = x.nchw) =>
      values.set((layer.output as tf.SymbolicTensor).name, { name, shape: outShape, nchw });
    const activate = (name: string) => {
      const activation = config.activation as string | undefined;
      if (activation === 'relu') return g.node('Relu', [name]);
      if (activation === 'softmax') return g.node('Softmax', [name], { axis: -1 });
      if (activation && activation !== 'linear') throw new Error(`activation ${activation} is not exported`);
      return name;
    };
    switch (className) {
      case 'Conv2D':
      case 'DepthwiseConv2D': {
        const depthwise = className === 'DepthwiseConv2D';
        const kernel = pair(config.kernelSize as number);
        const strides = pair(config.strides as number);
        const w = convWeights(weights[0], depthwise);
        const args = [x.name, constant(w.data, w.dims)];
        if (weights[1]) args.push(constant(floats(weights[1]), [weights[1].shape[0]]));
        const attrs = {
          kernel_shape: kernel,
          strides,
          pads: pads(config.padding as string, x.shape, kernel, strides),
          ...(depthwise ? { group: x.shape[2] } : {}),
        };
        put(activate(g.node('Conv', args, attrs)));
        break;
      }
      case 'BatchNormalization': {
        const c = x.shape[x.shape.length - 1];
        const byName = (suffix: string) => layer.weights.findIndex((w) => w.name.endsWith(suffix));
        const pick = (suffix: string, fill: number) =>
          byName(suffix) >= 0 ? floats(weights[byName(suffix)]) : new Float32Array(c).fill(fill);
        const args = ['gamma', 'beta', 'moving_mean', 'moving_variance'].map((name, i) =>
          constant(pick(name, i === 0 || i === 3 ? 1 : 0), [c]),
        );
        put(g.node('BatchNormalization', [x.name, ...args], { epsilon: { float: config.epsilon as number } }));
        break;
      }
      case 'Activation':
        put(activate(x.name));
        break;
      case 'ReLU': {
        const max = config.maxValue as number | null | undefined;
        if (max === null || max === undefined) put(g.node('Relu', [x.name]));
        else put(g.node('Clip', [x.name, constant(new Float32Array([0]), []), constant(new Float32Array([max]), [])]));
        break;
      }
      case 'MaxPooling2D':
      case 'AveragePooling2D': {
        const kernel = pair(config.poolSize as number);
        const strides = pair(config.strides as number);
        const op = className === 'MaxPooling2D' ? 'MaxPool' : 'AveragePool';
        put(
          g.node(op, [x.name], {
            kernel_shape: kernel,
            strides,
            pads: pads(config.padding as string, x.shape, kernel, strides),
          }),
        );
        break;
      }
      case 'GlobalAveragePooling2D':
        put(g.node('Flatten', [g.node('GlobalAveragePool', [x.name])]), false);
        break;
      case 'AdaptiveAvgPool2D':
        if (x.shape[0] !== outShape[0] || x.shape[1] !== outShape[1])
          throw new Error(`AdaptiveAvgPool2D exports only as an identity (input ${x.shape} → ${outShape})`);
        put(x.name);
        break;
      case 'ZeroPadding2D': {
        const [[top, bottom], [left, right]] = config.padding as number[][];
        const amounts = new BigInt64Array([0, 0, top, left, 0, 0, bottom, right].map(BigInt));
        put(g.node('Pad', [x.name, g.constant('int64', [8], amounts)]));
        break;
      }
      case 'Flatten':
        put(g.node('Flatten', [x.nchw ? g.node('Transpose', [x.name], { perm: [0, 2, 3, 1] }) : x.name]), false);
        break;
      case 'Dense': {
        const [units] = weights[1].shape;
        const kernel = constant(floats(weights[0]), weights[0].shape);
        put(activate(g.node('Gemm', [x.name, kernel, constant(floats(weights[1]), [units])])), false);
        break;
      }
      case 'Dropout':
        put(x.name);
        break;
      case 'Concatenate':
        put(
          g.node(
            'Concat',
            inputs.map((v) => v.name),
            { axis: x.nchw ? 1 : -1 },
          ),
        );
        break;
      case 'Add':
        put(
          g.node(
            'Sum',
            inputs.map((v) => v.name),
          ),
        );
        break;
      default:
        throw new Error(`layer ${layer.name} (${className}) is not exported`);
    }
  }
  const out = values.get(model.outputs[0].name)!;
  const result = out.nchw ? g.node('Transpose', [out.name], { perm: [0, 2, 3, 1] }) : out.name;
  g.node('Identity', [result], {}, 'output');
  g.output('output', 'float32', ['batch', ...out.shape]);
  return g;
}
