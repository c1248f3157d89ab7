/**
 * Pointwise (1×1) convolutions on the wasm backend run as matrix products. The wasm backend builds an
 * XNNPACK operator per convolution filter and keeps it while the filter lives; a convolution's operator
 * holds twice its filter's bytes, a fully connected operator (what `_FusedMatMul` builds) once (measured in a
 * thread by allocating from the wasm heap until it grows: 0.43 vs 0.22 MiB for a 0.21 MiB filter). A 1×1
 * convolution with stride 1, dilation 1 and no padding over NHWC input is the product of the input's rows
 * [N·H·W, Cin] with the filter [Cin, Cout], and XNNPACK computes both with the same GEMM microkernels: the
 * outputs are bit-identical. Most of the weights of MobileNets, ResNets and Inception blocks are pointwise,
 * so this is most of the operators' memory (MobileNet-v2: 35.5 → ~27 MiB of wasm heap after warm-up).
 *
 * Reshapes here are views, as the backend's own Reshape kernel makes them: a TensorInfo with the same dataId
 * and another shape. The matrix product's operator is cached on the filter's id, like the convolution's, and
 * freed with the filter.
 */
import { replaceKernel, type KernelParams } from './kernel-hook.js';
import { Conv2D, FusedConv2D, _FusedMatMul, getKernel, type KernelFunc, type TensorInfo } from './tfjs.js';

/** Activations the wasm matrix product applies as the convolution does (a clamp); others stay convolutions. */
const kClampActivations = new Set(['linear', 'relu', 'relu6']);

let installed = false;

/**
 * Replaces the wasm backend's Conv2D and FusedConv2D with versions that route pointwise convolutions to
 * `_FusedMatMul`; once per thread (the kernel registry is the thread's), before the kernel gate wraps them.
 */
export function installPointwiseAsMatMul(): void {
  const matMul = getKernel(_FusedMatMul, 'wasm')?.kernelFunc;
  if (installed || !matMul) return;
  installed = true;
  for (const name of [Conv2D, FusedConv2D]) {
    const config = getKernel(name, 'wasm');
    if (!config) continue;
    const convolve = config.kernelFunc;
    replaceKernel(config, (args) => pointwise(args, matMul) ?? convolve(args));
  }
}

/** The convolution as a matrix product, or undefined where it is not a plain pointwise one. */
function pointwise(args: KernelParams, matMul: KernelFunc): TensorInfo | undefined {
  const { x, filter, bias, preluActivationWeights } = args.inputs as Record<string, TensorInfo | undefined>;
  const attrs = args.attrs as Record<string, unknown>;
  if (!x || !filter || x.dtype !== 'float32' || filter.dtype !== 'float32') return undefined;
  if (filter.shape[0] !== 1 || filter.shape[1] !== 1 || x.shape.length !== 4) return undefined;
  if ((attrs.dataFormat ?? 'NHWC') !== 'NHWC' || preluActivationWeights) return undefined;
  const activation = (attrs.activation as string | undefined) ?? 'linear';
  if (!kClampActivations.has(activation)) return undefined;
  if (bias && (bias.shape.length !== 1 || bias.shape[0] !== filter.shape[3])) return undefined;
  if (!allOnes(attrs.strides) || !allOnes(attrs.dilations ?? 1) || !unpadded(attrs.pad)) return undefined;
  const [batch, height, width, inChannels] = x.shape;
  const outChannels = filter.shape[3];
  const rows = { dataId: x.dataId, shape: [1, batch * height * width, inChannels], dtype: x.dtype };
  const weights = { dataId: filter.dataId, shape: [1, inChannels, outChannels], dtype: filter.dtype };
  const product = matMul({
    inputs: bias ? { a: rows, b: weights, bias } : { a: rows, b: weights },
    attrs: { transposeA: false, transposeB: false, activation, leakyreluAlpha: 0 },
    backend: args.backend,
  }) as TensorInfo;
  return { dataId: product.dataId, shape: [batch, height, width, outChannels], dtype: product.dtype };
}

/** A stride or dilation attribute (a number or [height, width]) that is 1 in both dimensions. */
function allOnes(value: unknown): boolean {
  return Array.isArray(value) ? value.every((v) => v === 1) : value === 1;
}

/**
 * A padding attribute that pads nothing for a 1×1 filter at stride 1: 'same' and 'valid' both keep the
 * input's size, as does 0 or an explicit list of zeros; the rounding mode has nothing to round.
 */
function unpadded(pad: unknown): boolean {
  if (pad === 'same' || pad === 'valid' || pad === 0) return true;
  return Array.isArray(pad) && pad.flat().every((v) => v === 0);
}
