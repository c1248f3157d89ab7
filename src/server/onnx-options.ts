/**
 * The session options that only ONNX models take, checked up front like every other (INVALID_CONFIG naming
 * the key): onnxruntime's execution providers, its intra-op threads and the segment target. Providers that
 * drive a GPU are checked against the device too: two such sessions running at once crash the process
 * (onnxruntime's WebGPU context is shared by every session in it), so they need the arbiter with one token.
 */
import { isOnnxSource } from '../onnx/model-file.js';
import { isGpuProvider } from '../onnx/ort.js';
import { Errors } from '../protocol/errors.js';
import type { ModelSource } from '../protocol/session-messages.js';

export interface OnnxOptions {
  model?: ModelSource;
  executionProviders?: string[];
  intraOpThreads?: number;
  segmentMs?: number;
}

const onnxKeys = ['executionProviders', 'intraOpThreads', 'segmentMs'] as const;

export function validateOnnxOptions(config: OnnxOptions, field: string): void {
  const providers = config.executionProviders;
  if (providers !== undefined) {
    if (!Array.isArray(providers) || providers.length === 0)
      throw Errors.invalidConfig(`${field}.executionProviders`, 'must be a non-empty list of provider names');
    providers.forEach((name, i) => {
      if (typeof name !== 'string' || !/^[a-z][a-z0-9_]*$/.test(name))
        throw Errors.invalidConfig(
          `${field}.executionProviders[${i}]`,
          `must be a provider name as onnxruntime spells it (cpu, webgpu, cuda, …), got ${JSON.stringify(name)}`,
        );
      if (providers.indexOf(name) !== i)
        throw Errors.invalidConfig(`${field}.executionProviders[${i}]`, `repeats ${JSON.stringify(name)}`);
    });
  }
  if (
    config.intraOpThreads !== undefined &&
    !(Number.isSafeInteger(config.intraOpThreads) && config.intraOpThreads >= 1)
  )
    throw Errors.invalidConfig(`${field}.intraOpThreads`, 'must be an integer >= 1');
  if (
    config.segmentMs !== undefined &&
    !(typeof config.segmentMs === 'number' && Number.isFinite(config.segmentMs) && config.segmentMs >= 0)
  )
    throw Errors.invalidConfig(`${field}.segmentMs`, 'must be a number of ms >= 0 (0: never split)');
  if (config.model === undefined || isOnnxSource(config.model)) return;
  const stray = onnxKeys.find((key) => config[key] !== undefined);
  if (stray)
    throw Errors.invalidConfig(
      `${field}.${stray}`,
      'applies to ONNX models only (a .onnx file or a directory with model.onnx)',
    );
}

/** A session on a GPU provider runs only where its runs cannot overlap: under the arbiter, with one token. */
export function checkGpuProviders(
  config: OnnxOptions,
  device: { arbiter: boolean; tokens: number },
  field: string,
): void {
  const index = (config.executionProviders ?? []).findIndex(isGpuProvider);
  if (index < 0 || (device.arbiter && device.tokens === 1)) return;
  throw Errors.invalidConfig(
    `${field}.executionProviders[${index}]`,
    `is a GPU provider: its sessions must never run at once (two at a time crash onnxruntime), so it needs the arbiter with one token (tokens: 1, as device "gpu" sets); this server has ${device.arbiter ? `tokens: ${device.tokens}` : 'no arbiter'}`,
  );
}
