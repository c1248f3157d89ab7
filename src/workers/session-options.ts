/**
 * What a session is started with: its model and engine, its place on the device, its queue and batching,
 * how it charges device time, and how it restarts. Apart from the session itself because the server's
 * configuration (server/config.ts) is written against these options and needs nothing else of a session.
 */
import type { BackendRequest, GateMode, ModelSource } from '../protocol/session-messages.js';
import type { WarmupInputs } from '../protocol/warmup-inputs.js';
import type { DeviceBook } from './device-book.js';
import type { DeadlineOutcome } from './service-time.js';

export interface SessionOptions {
  name: string;
  model: ModelSource;
  backend?: BackendRequest;
  weight?: number;
  priority?: number;
  /**
   * This session is one of several instances of a model: it joins that model's account on the arbiter
   * (a sibling's `account`) and takes its weight and priority. `instance` numbers it, for stats and traces.
   */
  account?: number;
  instance?: number;
  /** Called whenever the requests waiting or running here change (the server's measure of token demand). */
  onLoad?: () => void;
  /** Called as each request with a deadline ends; `predictionErrorMs`: answered minus predicted, when answered. */
  onOutcome?: (outcome: DeadlineOutcome, predictionErrorMs: number | undefined) => void;
  /** The server's book of every session's work, for admission (none: it predicts as if alone on the device). */
  device?: DeviceBook;
  /** Requests that may wait behind the running ones; more get QUEUE_FULL at once. */
  maxQueue?: number;
  /** Most items (rows on the batch axis) coalesced into one run. 1 disables batching. */
  maxBatch?: number;
  /** How long the oldest queued request may wait for others to batch with, µs. */
  batchWindowUs?: number;
  /** webgpu: hand the token on right after submitting (`overlap`, default) or once the GPU is done (`strict`). */
  gateMode?: GateMode;
  /** `predicted`: charge the offline profile's per-kernel costs (see profiler/cost-plans.ts). */
  accounting?: 'predicted' | 'measured';
  /** A profile file or a profiles directory (default `profiles`). */
  profile?: string;
  /** With `predicted`: profile small models at session start instead of reading a profile file. */
  autoProfile?: boolean;
  /**
   * webgpu: measure the GPU time of every dispatch with timestamp queries (stats `gpuMs`). For benchmarks:
   * each dispatch then gets its own compute pass and submit, so it costs CPU time and changes batching.
   */
  gpuTiming?: boolean;
  /**
   * ONNX models: onnxruntime's execution providers in order of preference (default `['cpu']`); a provider
   * this machine lacks fails the start with BACKEND_UNAVAILABLE naming it. A GPU provider needs the device's
   * one token (K = 1): two sessions on one must never run at once.
   */
  executionProviders?: string[];
  /** ONNX models: onnxruntime's intra-op threads (default 1: one token is one core). */
  intraOpThreads?: number;
  /**
   * ONNX models: split a model whose run takes longer than this (ms, at batch 1) into segments of about this
   * long, so the session can hand its token on between them; 0 never splits. Default: the finest of 10, 20
   * or 40 ms whose measured cost stays within 3% of a run (workers/onnx-split.ts).
   */
  segmentMs?: number;
  /**
   * The shape of a real batch-of-one input, per input with free dimensions besides the batch axis: warm-up
   * and the memory probe run zeros of it (default: every free dimension 1, which some models refuse).
   */
  warmupInputs?: WarmupInputs;
  /** First restart delay after a crash, ms; doubles per crash in a row, up to restartMaxMs. */
  restartBackoffMs?: number;
  restartMaxMs?: number;
}
