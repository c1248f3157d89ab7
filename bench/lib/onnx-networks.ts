/**
 * The networks the engine benches run on both engines: each built once in TF.js (a zoo architecture, or
 * the conv stack of conv-stack.ts) and written as ONNX with the same weights (onnx-export.ts). Returns the
 * model source each engine is given, and the input every request sends (NHWC on both: the ONNX model
 * transposes it itself).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '../../src/device/tfjs.js';
import { buildZooModel } from '../../src/models/index.js';
import type { ModelSource } from '../../src/protocol/session-messages.js';
import { createModel, type ConvStackOptions } from './conv-stack.js';
import { exportLayersModel } from './onnx-export.js';

export interface NetworkSpec {
  name: string;
  /** A zoo architecture at an input size, or the conv stack. */
  zoo?: string;
  convStack?: ConvStackOptions;
  inputSize: number;
}

export interface Network extends NetworkSpec {
  tfjs: ModelSource;
  onnx: string;
}

export const convStackModule = new URL('./conv-stack.ts', import.meta.url).href;

/** Builds each network in this thread, writes its ONNX file, and disposes the TF.js model. */
export async function prepareNetworks(specs: NetworkSpec[], dir = mkdtempSync(join(tmpdir(), 'olympian-engines-'))) {
  const networks: Network[] = [];
  for (const spec of specs) {
    const model = spec.zoo
      ? buildZooModel(spec.zoo, { inputSize: spec.inputSize, seed: 1 })
      : createModel(tf, spec.convStack!);
    try {
      const onnx = await exportLayersModel(model).save(join(dir, `${spec.name}.onnx`));
      const tfjs: ModelSource = spec.zoo
        ? { zoo: spec.zoo, inputSize: spec.inputSize, seed: 1 }
        : { module: convStackModule, options: spec.convStack };
      networks.push({ ...spec, tfjs, onnx });
    } finally {
      model.dispose();
    }
  }
  return { dir, networks };
}
