/**
 * Loads a session's model inside its worker: paths, URLs and zoo models through the models loader, and
 * module sources (a factory that builds the model in code) by importing the module here, in the thread
 * that will run it.
 */
import { loadModel, wrapModel, type LoadedModel } from '../models/index.js';
import { Errors, isOlympianError } from '../protocol/errors.js';
import type { ModelSource } from '../protocol/session-messages.js';

export function describeSource(source: ModelSource): string {
  if (typeof source === 'string') return source;
  if ('zoo' in source) return `zoo:${source.zoo}${source.inputSize ? `@${source.inputSize}` : ''}`;
  return `${source.module}#${source.exportName ?? 'createModel'}`;
}

export async function loadSessionModel(source: ModelSource): Promise<LoadedModel> {
  if (typeof source === 'string' || 'zoo' in source) return loadModel(source);
  const name = describeSource(source);
  let factory: unknown;
  try {
    factory = ((await import(source.module)) as Record<string, unknown>)[source.exportName ?? 'createModel'];
  } catch (error) {
    throw Errors.modelLoadFailed(source.module, (error as Error).message);
  }
  if (typeof factory !== 'function')
    throw Errors.modelLoadFailed(source.module, `exports no function ${source.exportName ?? 'createModel'}`);
  try {
    // A factory may build either kind of model, so it gets TF.js with the converter.
    const tf = await import('../device/tfjs-graph.js');
    return wrapModel(await factory(tf, source.options), name);
  } catch (error) {
    if (isOlympianError(error)) throw error;
    throw Errors.modelLoadFailed(source.module, `the factory failed: ${(error as Error).message}`);
  }
}
