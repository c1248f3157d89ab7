import type { TokenGrant } from '../arbiter/token-client.js';
import type { SerializedError } from '../protocol/errors.js';

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
  /** The kernels' result, returned so the JIT cannot drop them. */
  sink: number;
}

export interface SyntheticFailed {
  type: 'error';
  error: SerializedError;
}

export type SyntheticMessage = SyntheticReady | SyntheticDone | SyntheticFailed;
