import type { TokenGrant } from '../../src/arbiter/token-client.js';
import type { SerializedError } from '../../src/protocol/errors.js';
import type { GateMode } from '../../src/protocol/session-messages.js';

/** Where a synthetic kernel runs: a CPU spin in the worker thread, or a compute dispatch on the GPU. */
export type SyntheticDevice = 'cpu' | 'webgpu';

/**
 * What a gated CPU session is charged: `cpu-time`, its thread's CPU time (what a wasm or cpu session is charged),
 * or `fixed`, each kernel's calibrated cost whatever the thread spent around it.
 */
export type SyntheticCharging = 'cpu-time' | 'fixed';

/** Control words shared by the launcher and every synthetic worker (Int32Array indices). */
export const kGoField = 0;
export const kStopField = 1;
export const kControlSize = 2;

export interface SyntheticWorkerData {
  /** Absent: run ungated (the baseline). */
  grant?: TokenGrant;
  control: SharedArrayBuffer;
  kernelIterations: number;
  kernelCostMs: number;
  kernelsPerInference: number;
  /** Stop after this many kernels; 0 runs until the stop word is set. */
  maxKernels: number;
  /** cpu sessions only (default `fixed`; webgpu sessions charge their kernels' costs). */
  charging?: SyntheticCharging;
}

/**
 * What a webgpu session publishes while it runs (Float64Array indices; one writer, the session): the launcher
 * reads it at the edges of a measurement window. Work counts once the GPU has finished it, not when encoded.
 */
export const kCompletedKernelsField = 0;
/** Summed GPU time of the completed dispatches, ms (timestamp queries; stays 0 without `gpuTiming`). */
export const kGpuMsField = 1;
export const kProgressSize = 2;

export interface SyntheticGpuWorkerData extends SyntheticWorkerData {
  /** overlap: hand the token on once an inference is submitted; strict: once the GPU has finished it. */
  gateMode: GateMode;
  /** Time every dispatch with timestamp queries (the adapter must have `timestamp-query`). */
  gpuTiming: boolean;
  progress: SharedArrayBuffer;
  /** Measure iterations per solo GPU ms, answer `calibrated`, and exit; runs no session. */
  calibrate?: boolean;
}

export type GpuCalibrationMethod = 'timestamp-query' | 'submit-to-done wall time';

export interface SyntheticCalibrated {
  type: 'calibrated';
  iterationsPerMs: number;
  method: GpuCalibrationMethod;
}

/** The GPU side of a webgpu session's `done`, sent once its device is destroyed. */
export interface SyntheticGpuDone {
  /** Kernels whose inference the GPU had finished: what `kernels` (encoded) came to. */
  completedKernels: number;
  inferences: number;
  submits: number;
  /** Deferred yields offered inside an inference (strict mode, another session waiting), after the GPU had caught up. */
  yieldsInInference: number;
  /** Summed dispatch GPU time, ms; null without `gpuTiming`. */
  gpuMs: number | null;
  /** Why the session's device was lost before `done` was sent: 'destroyed' when it shut down as it should. */
  deviceLost: GPUDeviceLostReason | null;
}

export interface SyntheticReady {
  type: 'ready';
  tid: number;
}

export interface SyntheticDone {
  type: 'done';
  kernels: number;
  wallMs: number;
  /** Clock (ms, nowMs) when the session stopped: makespans are measured from these. */
  finishedAtMs: number;
  /** Thread CPU time from `go` to the end, ms. */
  cpuMs: number;
  longestKernelMs: number;
  /** The kernels' result, returned so the JIT cannot drop them (webgpu: read back from the GPU). */
  sink: number;
  /** webgpu sessions only. */
  gpu?: SyntheticGpuDone;
}

export interface SyntheticFailed {
  type: 'error';
  error: SerializedError;
}

export type SyntheticMessage = SyntheticReady | SyntheticDone | SyntheticCalibrated | SyntheticFailed;
