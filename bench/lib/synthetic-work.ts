/**
 * One fixed-work run of a synthetic fleet (CPU or webgpu): every session runs its set number of kernels, and
 * the makespan runs from `go` to the last session's end (on webgpu, when the GPU finished its last inference).
 * Shared by the CPU and GPU synthetic benches, gated and ungated alike.
 */
import { DeviceArbiter, type ArbiterOptions } from '../../src/index.js';
import { nowMs } from '../../src/arbiter/clock.js';
import { SyntheticFleet, type SyntheticFleetOptions, type SyntheticSessionSpec } from './synthetic-fleet.js';

export interface WorkRun {
  makespanMs: number;
  /** The session threads' CPU time for the work, summed: where the device time went on a CPU. */
  cpuMs: number;
  handoffsPerSec: number;
  /** The longest a session held the token before handing it on, ms. */
  holdMaxMs: number;
}

/** `arbiterOptions` null: ungated (the baseline). */
export async function fixedWorkRun(
  arbiterOptions: ArbiterOptions | null,
  specs: SyntheticSessionSpec[],
  fleetOptions: Omit<SyntheticFleetOptions, 'arbiter'>,
): Promise<WorkRun> {
  const arbiter = arbiterOptions ? new DeviceArbiter(arbiterOptions) : undefined;
  const fleet = await SyntheticFleet.start(specs, { ...fleetOptions, arbiter });
  try {
    const goAt = nowMs();
    fleet.go();
    const done = await fleet.finished();
    const makespanMs = Math.max(...done.map((d) => d.finishedAtMs)) - goAt;
    const stats = arbiter?.stats();
    return {
      makespanMs,
      cpuMs: done.reduce((sum, d) => sum + d.cpuMs, 0),
      handoffsPerSec: stats ? (stats.handoffs / makespanMs) * 1000 : 0,
      holdMaxMs: stats ? Math.max(...stats.sessions.map((s) => s.holdMaxMs)) : 0,
    };
  } finally {
    await fleet.terminate();
    arbiter?.close();
  }
}
