/**
 * One entry point for every model a session serves: a TF.js layers or graph model on disk or behind
 * http(s), or a zoo model built in place. Loading reads the artifacts first and decides the kind from
 * them, so a bad file fails here, at load time, as MODEL_LOAD_FAILED naming the file; never later, in the
 * middle of a session. Everything is async and thread-local, so a session worker calls it directly.
 */
import { fileURLToPath } from 'node:url';
import * as tf from '../device/tfjs.js';
import { Errors, isOlympianError } from '../protocol/errors.js';
import { checkWeightBytes, readModelArtifacts } from './fs-handler.js';
import { checkGraphTopology, loadLayersGuarded } from './guarded-load.js';
import {
  checkInputs,
  normaliseShape,
  specFromTensorInfo,
  type ModelSignature,
  type NamedTensors,
  type TensorSpec,
} from './signature.js';
import { buildZooModel, parseZooSource, zooEntry } from './zoo.js';
import { canExecuteLayers, executeLayers, type Between } from './layers-executor.js';

export type ModelKind = 'layers' | 'graph' | 'zoo';

/** A path, a file:// or http(s):// URL, `zoo:<name>[@<inputSize>]`, or a zoo model spelt out. */
export type ModelSource = string | { zoo: string; inputSize?: number; seed?: number };

export interface LoadOptions {
  /** For http(s) sources: passed to tf.io.http (headers, credentials). */
  requestInit?: RequestInit;
  fetchFunc?: typeof fetch;
}

export interface LoadedModel {
  readonly kind: ModelKind;
  /** The source as given, for messages. */
  readonly source: string;
  readonly model: tf.LayersModel | tf.GraphModel;
  readonly signature: ModelSignature;
  /**
   * Runs one batch. Inputs are keyed by `signature.inputs[].name`, outputs by `signature.outputs[].name`.
   * The caller keeps ownership of the inputs and owns (must dispose) the outputs. `between`, when given, is
   * called at every point where the run can pause (after each layer of a layers model; a graph model runs
   * in one piece and has none), and a promise it returns is awaited there.
   */
  predict(inputs: NamedTensors, between?: Between): Promise<NamedTensors>;
  /** Whether `predict` would call `between` (a built layers model without masks): it can pause mid-run. */
  canPause(): boolean;
  /** The tensors the model holds its weights in (one shared by several layers may appear more than once). */
  weights(): tf.Tensor[];
  dispose(): void;
}

/** Ops TF.js refuses in the synchronous `execute` (its model_analysis lists), which need `executeAsync`. */
const ASYNC_OPS = new Set([
  'Switch',
  'Merge',
  'Enter',
  'Exit',
  'NextIteration',
  'StatelessIf',
  'StatelessWhile',
  'If',
  'While',
  'if',
  'NonMaxSuppressionV2',
  'NonMaxSuppressionV3',
  'NonMaxSuppressionV5',
  'Where',
  'HashTable',
  'HashTableV2',
  'LookupTableImport',
  'LookupTableImportV2',
  'LookupTableFind',
  'LookupTableFindV2',
  'LookupTableSize',
  'LookupTableSizeV2',
]);

type Topology = { node?: { op?: string }[]; library?: { function?: { nodeDef?: { op?: string }[] }[] } };

function needsAsync(topology: Topology): boolean {
  const ops = [...(topology.node ?? []), ...(topology.library?.function ?? []).flatMap((f) => f.nodeDef ?? [])];
  return ops.some((n) => n.op !== undefined && ASYNC_OPS.has(n.op));
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function detectKind(artifacts: tf.io.ModelArtifacts, source: string): 'layers' | 'graph' {
  const topology = artifacts.modelTopology;
  const isGraph = isRecord(topology) && Array.isArray(topology.node);
  const isLayers = isRecord(topology) && (typeof topology.class_name === 'string' || isRecord(topology.model_config));
  if (artifacts.format === 'graph-model' || (artifacts.format === undefined && isGraph)) {
    if (!isGraph) throw Errors.modelLoadFailed(source, 'format is graph-model but modelTopology has no node list');
    return 'graph';
  }
  if (artifacts.format === 'layers-model' || (artifacts.format === undefined && isLayers)) {
    if (!isLayers)
      throw Errors.modelLoadFailed(source, 'format is layers-model but modelTopology is not a Keras model config');
    return 'layers';
  }
  throw Errors.modelLoadFailed(
    source,
    `unknown model format ${JSON.stringify(artifacts.format ?? null)} (expected layers-model or graph-model)`,
  );
}

function toNamed(names: string[], result: tf.Tensor | tf.Tensor[]): NamedTensors {
  const list = Array.isArray(result) ? result : [result];
  return Object.fromEntries(names.map((name, i) => [name, list[i]]));
}

function layersModel(kind: 'layers' | 'zoo', source: string, model: tf.LayersModel): LoadedModel {
  const spec = (names: string[], tensors: tf.SymbolicTensor[]): TensorSpec[] =>
    tensors.map((t, i) => ({ name: names[i], dtype: t.dtype, shape: normaliseShape(t.shape) }));
  const signature = { inputs: spec(model.inputNames, model.inputs), outputs: spec(model.outputNames, model.outputs) };
  return {
    kind,
    source,
    model,
    signature,
    async predict(inputs, between) {
      checkInputs(signature, inputs);
      const ordered = signature.inputs.map((s) => inputs[s.name]);
      if (between && canExecuteLayers(model))
        return toNamed(model.outputNames, await executeLayers(model, ordered, between));
      // predictOnBatch, not predict: predict slices the input into batches of 32 and concatenates the
      // results, kernels a serving runtime does not want to pay for.
      const result = model.predictOnBatch(ordered);
      return toNamed(model.outputNames, result);
    },
    canPause: () => canExecuteLayers(model),
    weights: () => model.weights.map((weight) => weight.read()),
    dispose: () => void model.dispose(),
  };
}

function graphModel(source: string, model: tf.GraphModel, useAsync: boolean): LoadedModel {
  const declared = (model.modelSignature ?? {}) as {
    inputs?: Record<string, unknown>;
    outputs?: Record<string, unknown>;
  };
  const fromNodes = (
    names: string[],
    infos: tf.GraphModel['inputs'],
    entries?: Record<string, unknown>,
  ): TensorSpec[] =>
    names.map((name, i) => {
      const key = name.replace(/:0$/, '');
      if (entries?.[key] !== undefined) return specFromTensorInfo(key, entries[key]);
      return { name, dtype: infos[i].dtype ?? null, shape: normaliseShape(infos[i].shape) };
    });
  const signature = {
    inputs: fromNodes(model.inputNodes, model.inputs, declared.inputs),
    outputs: fromNodes(model.outputNodes, model.outputs, declared.outputs),
  };
  const outputNames = signature.outputs.map((s) => s.name);
  return {
    kind: 'graph',
    source,
    model,
    signature,
    async predict(inputs) {
      checkInputs(signature, inputs);
      const result = useAsync ? await model.executeAsync(inputs, outputNames) : model.execute(inputs, outputNames);
      return toNamed(outputNames, result);
    },
    canPause: () => false,
    weights: () => Object.values(model.weights).flat(),
    dispose: () => model.dispose(),
  };
}

function describe(source: ModelSource): string {
  return typeof source === 'string' ? source : `zoo:${source.zoo}${source.inputSize ? `@${source.inputSize}` : ''}`;
}

function parseZoo(source: ModelSource): { zoo: string; inputSize?: number; seed?: number } | undefined {
  if (typeof source !== 'string') return source;
  if (!source.startsWith('zoo:')) return undefined;
  const zoo = parseZooSource(source);
  if (!zoo)
    throw Errors.invalidArgument('source', `must look like zoo:<name>[@<inputSize>] (got ${JSON.stringify(source)})`);
  return zoo;
}

async function readArtifacts(source: string, options: LoadOptions): Promise<tf.io.ModelArtifacts> {
  if (!/^https?:\/\//i.test(source)) {
    return readModelArtifacts(source.startsWith('file://') ? fileURLToPath(source) : source);
  }
  const handler = tf.io.http(source, { requestInit: options.requestInit, fetchFunc: options.fetchFunc });
  let artifacts: tf.io.ModelArtifacts;
  try {
    artifacts = await handler.load!();
  } catch (error) {
    throw Errors.modelLoadFailed(source, (error as Error).message);
  }
  checkWeightBytes(artifacts, source);
  return artifacts;
}

/**
 * By shape, not by class: the converter is loaded only where a graph model is (device/tfjs-graph.ts), so a
 * layers-only session has no GraphModel class to compare with.
 */
function isGraphModel(model: unknown): model is tf.GraphModel {
  const graph = model as Partial<tf.GraphModel> | null;
  return typeof graph?.executeAsync === 'function' && Array.isArray(graph.inputNodes);
}

/** Adapts a model built in code (a module source's factory) to the same interface. */
export function wrapModel(model: unknown, source: string): LoadedModel {
  if (model instanceof tf.LayersModel) return layersModel('layers', source, model);
  // A graph built in code has no artifacts to inspect; executeAsync runs every graph, dynamic or not.
  if (isGraphModel(model)) return graphModel(source, model, true);
  throw Errors.modelLoadFailed(source, 'the factory returned neither a tf.LayersModel nor a tf.GraphModel');
}

export async function loadModel(source: ModelSource, options: LoadOptions = {}): Promise<LoadedModel> {
  const name = describe(source);
  const zoo = parseZoo(source);
  if (zoo !== undefined) {
    zooEntry(zoo.zoo);
    return layersModel('zoo', name, buildZooModel(zoo.zoo, { inputSize: zoo.inputSize, seed: zoo.seed }));
  }
  const artifacts = await readArtifacts(name, options);
  const kind = detectKind(artifacts, name);
  if (kind === 'graph') checkGraphTopology(artifacts, name);
  let model: tf.LayersModel | tf.GraphModel | undefined;
  try {
    if (kind === 'layers') {
      model = await loadLayersGuarded(artifacts);
      return layersModel('layers', name, model);
    }
    const { loadGraphModel } = await import('../device/tfjs-graph.js');
    model = await loadGraphModel({ load: async () => artifacts });
    // The model keeps the artifacts it was loaded from (for save(), which sessions never call), and with them
    // a JS copy of every weight beside the backend's.
    artifacts.weightData = undefined;
    return graphModel(name, model, needsAsync(artifacts.modelTopology as Topology));
  } catch (error) {
    model?.dispose();
    if (isOlympianError(error)) throw error;
    throw Errors.modelLoadFailed(name, `TF.js rejected the ${kind} model: ${(error as Error).message}`);
  }
}
