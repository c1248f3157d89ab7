/**
 * A session's stats row: the counters its thread keeps in the shared stats buffer (session-layout.ts),
 * read word by word, beside what the main thread keeps (queue, latency, restarts, errors, deadlines).
 * Apart from session.ts so that the row's fields and the words they are read from sit in one place, and
 * the session keeps to its queue.
 */
import type { ErrorCode } from '../protocol/errors.js';
import type { SessionInfo } from '../protocol/session-messages.js';
import type { LatencyWindow } from './latency.js';
import {
  kBatchesField,
  kBusyMsField,
  kChargedMsField,
  kGpuMsField,
  kGpuWaitMsField,
  kGpuWaitsField,
  kHeapUsedMbField,
  kInferencesField,
  kKernelsField,
  kLastInferenceMsField,
  kLiveTensorsField,
  kLongestKernelMsField,
} from './session-layout.js';
import type { SessionState } from './session-thread.js';
import type { DeadlineCounts } from './service-time.js';

export interface SessionStats {
  name: string;
  state: SessionState;
  slot: number;
  backend: SessionInfo['backend'] | null;
  accounting: SessionInfo['accounting'] | null;
  queueDepth: number;
  /** Enqueue to answer, over the last 2,048 answered requests. */
  latencyP50Ms: number;
  latencyP99Ms: number;
  inferences: number;
  /** Model runs: coalesced requests count once. */
  batches: number;
  kernels: number;
  kernelsPerInference: number;
  longestKernelMs: number;
  lastInferenceMs: number;
  chargedMs: number;
  /** GPU time measured by timestamp queries (sessions with `gpuTiming` on webgpu), ms; else 0. */
  gpuMs: number;
  /**
   * webgpu `strict`: how often the session waited for the GPU to finish its work before the token went on
   * (at quantum boundaries between layers, and at inference ends), and for how long in all, ms; else 0.
   */
  gpuWaits: number;
  gpuWaitMs: number;
  /** Time it held a token inside units of work, ms: what the device's tokens did for it. */
  busyMs: number;
  liveTensors: number;
  baselineTensors: number;
  heapUsedMb: number;
  restarts: number;
  errors: Partial<Record<ErrorCode, number>>;
  /** Requests with a deadline: answered within it, answered late, shed on arrival, dropped while queued. */
  deadlines: DeadlineCounts;
}

/** What the main thread knows of a session, for its row. */
export interface SessionFigures {
  name: string;
  state: SessionState;
  slot: number;
  /** What it reported once warm, or null before it ever was. */
  info: SessionInfo | null;
  queueDepth: number;
  latency: LatencyWindow;
  restarts: number;
  errors: Partial<Record<ErrorCode, number>>;
  deadlines: DeadlineCounts;
}

/** The row from the thread's counters (`s`, a view of the session's stats buffer) and the main thread's figures. */
export function sessionStatsRow(s: Float64Array, figures: SessionFigures): SessionStats {
  const { info, latency } = figures;
  return {
    name: figures.name,
    state: figures.state,
    slot: figures.slot,
    backend: info?.backend ?? null,
    accounting: info?.accounting ?? null,
    queueDepth: figures.queueDepth,
    latencyP50Ms: latency.percentile(50),
    latencyP99Ms: latency.percentile(99),
    inferences: s[kInferencesField],
    batches: s[kBatchesField],
    kernels: s[kKernelsField],
    kernelsPerInference: info?.kernelsPerInference ?? 0,
    longestKernelMs: s[kLongestKernelMsField],
    lastInferenceMs: s[kLastInferenceMsField],
    chargedMs: s[kChargedMsField],
    gpuMs: s[kGpuMsField],
    gpuWaits: s[kGpuWaitsField],
    gpuWaitMs: s[kGpuWaitMsField],
    busyMs: s[kBusyMsField],
    liveTensors: s[kLiveTensorsField],
    baselineTensors: info?.baselineTensors ?? 0,
    heapUsedMb: s[kHeapUsedMbField],
    restarts: figures.restarts,
    errors: { ...figures.errors },
    deadlines: { ...figures.deadlines },
  };
}
