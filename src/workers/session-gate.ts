/**
 * The kernel gate of a session thread, shared by the TF.js and ONNX runtimes: what the arbiter charges the
 * session is what its stats report as charged, and a session whose work runs on its own thread is charged
 * that thread's CPU time.
 */
import { KernelGate } from '../arbiter/kernel-gate.js';
import { threadCpuClock, type ThreadCpuClock } from '../arbiter/os-thread.js';
import type { TokenClient } from '../arbiter/token-client.js';
import { kChargedMsField } from './session-layout.js';

export interface SessionGate {
  gate: KernelGate;
  /** Open while the session serves; null where the session is not charged CPU time (or /proc is missing). */
  cpuClock: ThreadCpuClock | null;
}

/**
 * `chargesCpuTime`: the session's kernels run synchronously on this thread (a wasm or cpu backend, an ONNX
 * CPU provider with one intra-op thread) and it charges what it measures rather than a profile's costs, so
 * its CPU time is its use of the device. The caller closes `cpuClock` when the session ends.
 */
export function sessionGate(
  client: TokenClient,
  stats: Float64Array,
  chargesCpuTime: boolean,
  onBoundary?: () => void,
): SessionGate {
  const cpuClock = chargesCpuTime ? threadCpuClock() : null;
  const gate = new KernelGate(client, onBoundary, {
    cpuClock,
    onCharged: (costMs) => (stats[kChargedMsField] += costMs),
  });
  return { gate, cpuClock };
}
