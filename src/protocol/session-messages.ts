/** What the main thread and a session worker say to each other (piscina tasks and their results). */
import type { SerializedError } from './errors.js';
import type { ModelSignature } from './signature.js';
import type { NamedTensors } from './tensors.js';

export type { ModelSignature, TensorSpec } from './signature.js';

/**
 * Where a session's model comes from; plain data, so it can cross into the worker: a model.json path or a
 * file:// or http(s):// URL, a zoo model (`zoo:<name>[@<inputSize>]` or spelt out), or a module whose export
 * (default `createModel`) builds the model: `(tf, options) => LayersModel | GraphModel | Promise of one`.
 */
export type ModelSource =
  | string
  | { zoo: string; inputSize?: number; seed?: number }
  | { module: string; exportName?: string; options?: unknown };

export type BackendRequest = 'auto' | 'wasm' | 'cpu' | 'webgpu' | 'tensorflow';

export type GateMode = 'overlap' | 'strict';

export interface BackendInfo {
  name: string;
  flags: Record<string, boolean | number | string>;
}

export interface SessionInfo {
  /** The worker's kernel thread id: benches read its CPU time from /proc/self/task/<tid>. */
  tid: number;
  backend: BackendInfo;
  signature: ModelSignature;
  kernelsPerInference: number;
  warmupMs: number;
  /** Live tensors after warm-up: the level every inference must return to. */
  baselineTensors: number;
  /**
   * How kernels are charged: `measured` (wall time of each synchronous kernel, wasm/cpu) or `estimated`
   * (webgpu: per-kernel-name GPU time from the warm-up's timestamp queries, or an even split of the measured
   * inference time when the adapter has none).
   */
  accounting: 'measured' | 'estimated' | 'predicted' | 'name-average';
  accountingNote: string;
  /** webgpu only: `overlap` hands the token on right after submitting; `strict` waits for the GPU first. */
  gateMode: GateMode;
  /** Memory the model's weights take on the device, MiB. */
  weightsMb: number;
  /** Peak memory above the weights for one batch-1 inference, MiB: activations per batch item. */
  activationsMbPerItem: number;
  /** The profile's whole-run cost, when the session charges one (deadlines predict from it); else null. */
  runCostLine: RunCostLine | null;
}

/** A whole run's cost at `batch` items: fixedMs + perItemMs × batch. */
export interface RunCostLine {
  fixedMs: number;
  perItemMs: number;
}

export type SessionTask =
  | { type: 'warmup' }
  /** Runs a full garbage collection, then reports live tensors and heap (memory checks, soak runs). */
  | { type: 'collect' }
  /** Releases the device (webgpu: destroys it and lets dawn.node settle) before the thread is terminated. */
  | { type: 'shutdown' }
  /** Requests run as one batch, each split back out of the outputs. */
  | { type: 'infer'; batch: BatchItem[] };

export interface BatchItem {
  inputs: NamedTensors;
  /** The request's Int32Array(1) claim word (see kRequestPending in workers/session-layout.ts). */
  claim: SharedArrayBuffer;
  /** Clock (nowMs, shared by all threads) after which the request must not run. */
  deadlineAtMs?: number;
}

export type SessionReply<T> = { ok: true; value: T } | { ok: false; error: SerializedError };

export interface MemoryReport {
  liveTensors: number;
  heapUsedMb: number;
}
