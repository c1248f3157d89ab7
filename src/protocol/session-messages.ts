/** What the main thread and a session worker say to each other (piscina tasks and their results). */
import type { SerializedError } from './errors.js';
import type { NamedTensors, WireDType } from './tensors.js';

/** Where a session's model comes from; plain data, so it can cross into the worker. */
export type ModelSource =
  /** A module whose export (default: `createModel`) builds the model: `(tf, options) => model | Promise`. */
  | { kind: 'module'; url: string; exportName?: string; options?: unknown }
  /** A model of the built-in zoo. */
  | { kind: 'zoo'; name: string; inputSize?: number; seed?: number }
  /** A TF.js model.json (layers or graph) on disk or at an http(s) URL. */
  | { kind: 'path'; url: string };

export type BackendRequest = 'auto' | 'wasm' | 'cpu' | 'webgpu' | 'tensorflow';

export interface TensorSpec {
  name: string;
  dtype: WireDType;
  /** -1 (or null) where the dimension is free, such as the batch. */
  shape: Array<number | null>;
}

export interface ModelSignature {
  inputs: TensorSpec[];
  outputs: TensorSpec[];
}

export interface BackendInfo {
  name: string;
  flags: Record<string, boolean | number | string>;
}

export interface SessionInfo {
  backend: BackendInfo;
  signature: ModelSignature;
  kernelsPerInference: number;
  warmupMs: number;
  /** Live tensors after warm-up: the level every inference must return to. */
  baselineTensors: number;
  accounting: 'measured';
}

export type SessionTask =
  | { type: 'warmup' }
  | { type: 'infer'; inputs: NamedTensors };

export type SessionReply<T> = { ok: true; value: T } | { ok: false; error: SerializedError };
