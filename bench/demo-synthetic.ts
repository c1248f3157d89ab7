/**
 * demo-synthetic: five synthetic sessions with kernels of very different sizes share one device token
 * (K = 1) under `fair`, then `weighted` 1:2:3:4:5, then `priority`, and each phase prints every session's
 * share against its target, measured two ways: the cost the arbiter charged, and the thread CPU time each
 * session really used. No TF.js; prints only (`--quick`: 1 s phases).
 */
import { DeviceArbiter, type ArbiterOptions } from '../src/arbiter/arbiter.js';
import { calibrateSpin } from './lib/synthetic-kernel.js';
import { SyntheticFleet, type SyntheticSessionSpec } from './lib/synthetic-fleet.js';

interface Phase {
  title: string;
  options: ArbiterOptions;
  sessions: SyntheticSessionSpec[];
  targets: number[];
}

const kernels = [0.05, 0.2, 0.5, 1, 2];
const names = ['tiny', 'small', 'medium', 'large', 'huge'];

const phases: Phase[] = [
  {
    title: 'fair: equal shares',
    options: { policy: 'fair', quantumMs: 1 },
    sessions: kernels.map((kernelMs, i) => ({ name: names[i], kernelMs })),
    targets: kernels.map(() => 0.2),
  },
  {
    title: 'weighted 1:2:3:4:5',
    options: { policy: 'weighted', quantumMs: 1 },
    sessions: kernels.map((kernelMs, i) => ({ name: names[i], kernelMs, weight: i + 1 })),
    targets: kernels.map((_, i) => (i + 1) / 15),
  },
  {
    title: 'priority: tiny and huge in class 1 (weights 1:3), the rest in class 0',
    options: { policy: 'priority', quantumMs: 1 },
    sessions: kernels.map((kernelMs, i) => ({
      name: names[i],
      kernelMs,
      priority: i === 0 || i === 4 ? 1 : 0,
      weight: i === 4 ? 3 : 1,
    })),
    targets: [0.25, 0, 0, 0, 0.75],
  },
];

const pct = (value: number) => `${(value * 100).toFixed(1).padStart(5)}%`;

export async function run({ quick }: { quick: boolean }): Promise<void> {
  const phaseMs = quick ? 1000 : 3000;
  const iterationsPerMs = calibrateSpin();
  console.log(`olympian demo: five synthetic sessions, one device token (K = 1), ${phaseMs / 1000} s per phase`);
  console.log(`kernels: ${kernels.map((k, i) => `${names[i]} ${k} ms`).join(', ')}\n`);
  for (const phase of phases) {
    // No heir spin: a spinning waiter burns CPU time, and CPU time is how this demo checks the shares.
    const arbiter = new DeviceArbiter({ ...phase.options, heirSpin: false });
    const fleet = await SyntheticFleet.start(phase.sessions, { arbiter, iterationsPerMs });
    try {
      fleet.go();
      const { cpuMs, chargedMs } = await fleet.measureWindow(phaseMs, 300);
      fleet.stop();
      await fleet.finished();
      const cpuTotal = cpuMs.reduce((a, b) => a + b, 0);
      const chargedTotal = chargedMs.reduce((a, b) => a + b, 0);
      const stats = arbiter.stats();
      console.log(`${phase.title}`);
      console.log('  session  kernel   target  charged  cpu-time  grants  longest hold');
      phase.sessions.forEach((spec, i) => {
        const row = stats.sessions.find((s) => s.name === spec.name)!;
        console.log(
          `  ${spec.name.padEnd(7)} ${`${spec.kernelMs} ms`.padStart(7)}  ${pct(phase.targets[i])}  ${pct(chargedMs[i] / chargedTotal)}   ${pct(cpuMs[i] / cpuTotal)}  ${String(row.grants).padStart(6)}  ${row.holdMaxMs.toFixed(2).padStart(8)} ms`,
        );
      });
      const worst = Math.max(...phase.targets.map((t, i) => Math.abs(cpuMs[i] / cpuTotal - t)));
      console.log(
        `  largest gap between cpu-time share and target: ${(worst * 100).toFixed(2)} points; handoffs ${stats.handoffs}\n`,
      );
    } finally {
      await fleet.terminate();
      arbiter.close();
    }
  }
}
