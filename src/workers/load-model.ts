/**
 * Loads a session's model inside its worker and adapts it to one shape: named tensors in, output tensors
 * (in signature order) out.
 */
import * as tf from '@tensorflow/tfjs';
import { ErrorCode, OlympianError } from '../protocol/errors.js';
import type { ModelSignature, ModelSource, TensorSpec } from '../protocol/session-messages.js';
import type { WireDType } from '../protocol/tensors.js';

export interface RunnableModel {
  signature: ModelSignature;
  /** Synchronous on wasm/cpu; returns one tensor per signature output. */
  run(inputs: Record<string, tf.Tensor>): tf.Tensor[];
  dispose(): void;
}

const loadFailed = (source: string, why: string) =>
  new OlympianError(ErrorCode.MODEL_LOAD_FAILED, `model ${source} failed to load: ${why}`, { field: 'model' });

export async function loadModel(source: ModelSource): Promise<RunnableModel> {
  switch (source.kind) {
    case 'module': {
      let factory: unknown;
      try {
        const mod = (await import(source.url)) as Record<string, unknown>;
        factory = mod[source.exportName ?? 'createModel'];
      } catch (error) {
        throw loadFailed(source.url, (error as Error).message);
      }
      if (typeof factory !== 'function') throw loadFailed(source.url, `exports no function ${source.exportName ?? 'createModel'}`);
      const model = (await factory(tf, source.options)) as unknown;
      return adapt(model, source.url);
    }
    default:
      throw loadFailed(JSON.stringify(source), `source kind ${(source as { kind: string }).kind} is not supported yet`);
  }
}

function adapt(model: unknown, origin: string): RunnableModel {
  if (model instanceof tf.LayersModel) return fromLayersModel(model);
  if (model instanceof tf.GraphModel) return fromGraphModel(model);
  const custom = model as Partial<RunnableModel>;
  if (custom && typeof custom.run === 'function' && custom.signature) return custom as RunnableModel;
  throw loadFailed(origin, 'the factory returned neither a tf.LayersModel, a tf.GraphModel nor { signature, run }');
}

const specOf = (name: string, dtype: string | undefined, shape: Array<number | null> | number[] | undefined): TensorSpec => ({
  name,
  dtype: (dtype ?? 'float32') as WireDType,
  shape: (shape ?? []).map((d) => (d === null || d < 0 ? null : d)),
});

function fromLayersModel(model: tf.LayersModel): RunnableModel {
  const inputs = model.inputs.map((input, i) => specOf(model.inputNames[i], input.dtype, input.shape));
  const outputs = model.outputs.map((output, i) => specOf(model.outputNames[i], output.dtype, output.shape));
  return {
    signature: { inputs, outputs },
    run(named) {
      const ordered = inputs.map((spec) => named[spec.name]);
      const result = model.predict(ordered.length === 1 ? ordered[0] : ordered);
      return Array.isArray(result) ? result : [result];
    },
    dispose: () => model.dispose(),
  };
}

function fromGraphModel(model: tf.GraphModel): RunnableModel {
  const inputs = model.inputs.map((info) => specOf(info.name, info.dtype, info.shape));
  const outputs = model.outputs.map((info) => specOf(info.name, info.dtype, info.shape));
  const outputNames = outputs.map((spec) => spec.name);
  return {
    signature: { inputs, outputs },
    run(named) {
      const result = model.execute(named, outputNames);
      return Array.isArray(result) ? result : [result];
    },
    dispose: () => model.dispose(),
  };
}
