/**
 * synthetic: five synthetic sessions with kernels of 0.05–2 ms on cores pinned with taskset, K = cores.
 * Baseline (ungated, the OS scheduler shares the cores) and candidate (arbiter) run interleaved in one
 * process. Device share = thread CPU time over a window in which every session is backlogged; overhead =
 * makespan of the same fixed work gated vs ungated, per quantum. Gated sessions are charged their thread's CPU
 * time, as wasm and cpu sessions are; the weighted run is repeated charging the kernels' fixed costs, for
 * comparison. `--backend webgpu` runs the GPU variant
 * (synthetic-gpu.ts) instead.
 */
import { DeviceArbiter, type ArbiterOptions } from '../src/index.js';
import { SyntheticFleet, type SyntheticSessionSpec } from './lib/synthetic-fleet.js';
import type { SyntheticCharging } from './lib/synthetic-protocol.js';
import { calibrateSpin } from './lib/synthetic-kernel.js';
import { firstCpus, pinProcess } from './lib/pin.js';
import { fixedWorkRun } from './lib/synthetic-work.js';
import { runWebgpu } from './synthetic-gpu.js';
import { startProgress } from './lib/progress.js';
import { benchMeta, table, writeResults, type BenchOptions } from './lib/report.js';
import { jainIndex, median, normalise, round, spread, weightedMaxErrorPct } from './lib/stats.js';

const kernelSizesMs = [0.05, 0.1, 0.5, 1, 2];
const weights = [1, 2, 3, 4, 5];
const quantaMs = [0.5, 1, 2, 5];

const specs = (withWeights: boolean): SyntheticSessionSpec[] =>
  kernelSizesMs.map((kernelMs, i) => ({
    name: `k${kernelMs}ms`,
    kernelMs,
    kernelsPerInference: 10,
    ...(withWeights ? { weight: weights[i] } : {}),
  }));

interface ShareRun {
  cpuShares: number[];
  chargedShares: number[] | null;
}

async function shareRun(
  arbiterOptions: ArbiterOptions | null,
  withWeights: boolean,
  windowMs: number,
  iterationsPerMs: number,
  charging: SyntheticCharging = 'cpu-time',
): Promise<ShareRun> {
  const arbiter = arbiterOptions ? new DeviceArbiter(arbiterOptions) : undefined;
  const fleet = await SyntheticFleet.start(specs(withWeights), { arbiter, iterationsPerMs, charging });
  try {
    fleet.go();
    const { cpuMs, chargedMs } = await fleet.measureWindow(windowMs, Math.min(500, windowMs / 4));
    fleet.stop();
    await fleet.finished();
    return { cpuShares: normalise(cpuMs), chargedShares: arbiter ? normalise(chargedMs) : null };
  } finally {
    await fleet.terminate();
    arbiter?.close();
  }
}

// Fixed work: every session runs the same solo time of kernels, however large its kernels are.
const workRun = (
  arbiterOptions: ArbiterOptions | null,
  workMsPerSession: number,
  iterationsPerMs: number,
  sizes = kernelSizesMs,
) =>
  fixedWorkRun(
    arbiterOptions,
    sizes.map((kernelMs) => ({
      name: `k${kernelMs}ms`,
      kernelMs,
      kernelsPerInference: 10,
      maxKernels: Math.round(workMsPerSession / kernelMs),
    })),
    { iterationsPerMs, charging: 'cpu-time' },
  );

export async function run(options: BenchOptions) {
  if (options.backend === 'webgpu') return runWebgpu(options);
  const { quick } = options;
  const cores = 1;
  const usable = pinProcess(firstCpus(cores));
  const meta = await benchMeta('synthetic', options);
  const reps = quick ? 1 : 3;
  const windowMs = quick ? 1200 : 4000;
  const workMs = quick ? 150 : 600;
  const iterationsPerMs = calibrateSpin();
  const base: ArbiterOptions = { tokens: cores, heirSpin: false };
  console.log(`pinned to ${firstCpus(cores)} (${usable} usable), K = ${cores}, ${reps} repetition(s)`);

  const fair = { baseline: [] as number[], candidate: [] as number[], chargedJain: [] as number[] };
  const weighted = {
    errorPct: [] as number[],
    chargedErrorPct: [] as number[],
    shares: [] as number[][],
    fixedErrorPct: [] as number[],
  };
  const overhead: Record<string, number[]> = Object.fromEntries(quantaMs.map((q) => [q, []]));
  const handoffs: Record<string, number[]> = Object.fromEntries(quantaMs.map((q) => [q, []]));
  const holdMax: Record<string, number[]> = Object.fromEntries(quantaMs.map((q) => [q, []]));
  const cpuOverhead: Record<string, number[]> = Object.fromEntries(quantaMs.map((q) => [q, []]));
  const alone: number[] = [];
  const targets = normalise(weights);

  const progress = startProgress('synthetic', reps * (3 + quantaMs.length));
  for (let rep = 0; rep < reps; rep++) {
    progress.label(`rep ${rep + 1} fair`);
    const baseline = await shareRun(null, false, windowMs, iterationsPerMs);
    const candidate = await shareRun({ ...base, policy: 'fair', quantumMs: 1 }, false, windowMs, iterationsPerMs);
    fair.baseline.push(jainIndex(baseline.cpuShares));
    fair.candidate.push(jainIndex(candidate.cpuShares));
    fair.chargedJain.push(jainIndex(candidate.chargedShares!));
    progress.tick(`rep ${rep + 1} weighted`);
    progress.log(
      `rep ${rep + 1} fair: Jain baseline ${round(fair.baseline.at(-1)!, 4)}, arbiter ${round(fair.candidate.at(-1)!, 4)} (cpu shares ${candidate.cpuShares.map((s) => round(s, 3)).join(' ')})`,
    );

    const w = await shareRun({ ...base, policy: 'weighted', quantumMs: 1 }, true, windowMs, iterationsPerMs);
    weighted.errorPct.push(weightedMaxErrorPct(w.cpuShares, targets));
    weighted.chargedErrorPct.push(weightedMaxErrorPct(w.chargedShares!, targets));
    weighted.shares.push(w.cpuShares);
    // The same, charging each kernel its calibrated cost instead: what the sessions were charged before CPU time.
    const fixed = await shareRun(
      { ...base, policy: 'weighted', quantumMs: 1 },
      true,
      windowMs,
      iterationsPerMs,
      'fixed',
    );
    weighted.fixedErrorPct.push(weightedMaxErrorPct(fixed.cpuShares, targets));
    progress.tick();
    progress.log(
      `rep ${rep + 1} weighted 1:2:3:4:5: max error ${round(weighted.errorPct.at(-1)!, 2)}% (cpu shares ${w.cpuShares.map((s) => round(s, 3)).join(' ')}); charging fixed costs ${round(weighted.fixedErrorPct.at(-1)!, 2)}%`,
    );

    // Interleave: the ungated baseline runs before every candidate, in a rotated order each repetition.
    const order = quantaMs.map((_, i) => quantaMs[(i + rep) % quantaMs.length]);
    for (const quantumMs of order) {
      const ungated = await workRun(null, workMs, iterationsPerMs);
      const gated = await workRun({ ...base, policy: 'fair', quantumMs }, workMs, iterationsPerMs);
      overhead[quantumMs].push((gated.makespanMs / ungated.makespanMs - 1) * 100);
      handoffs[quantumMs].push(gated.handoffsPerSec);
      holdMax[quantumMs].push(gated.holdMaxMs);
      cpuOverhead[quantumMs].push((gated.cpuMs / ungated.cpuMs - 1) * 100);
      progress.tick(`rep ${rep + 1} quantum ${quantumMs} ms done`);
      progress.log(
        `rep ${rep + 1} quantum ${quantumMs} ms: overhead ${round(overhead[quantumMs].at(-1)!, 2)}% (${round(ungated.makespanMs, 1)} → ${round(gated.makespanMs, 1)} ms), session CPU time ${round(cpuOverhead[quantumMs].at(-1)!, 2)}%`,
      );
    }
    // The gate with nobody to hand over to (one session, kernels of 0.5 ms): what gating costs without handoffs.
    const soloUngated = await workRun(null, workMs, iterationsPerMs, [0.5]);
    const soloGated = await workRun({ ...base, policy: 'fair', quantumMs: 1 }, workMs, iterationsPerMs, [0.5]);
    alone.push((soloGated.makespanMs / soloUngated.makespanMs - 1) * 100);
    progress.tick();
    progress.log(`rep ${rep + 1} one session alone, quantum 1 ms: overhead ${round(alone.at(-1)!, 2)}%`);
  }

  progress.stop();
  const result = {
    cores,
    tokens: cores,
    kernelSizesMs,
    windowMs,
    workMsPerSession: workMs,
    repetitions: reps,
    shareMeasure: 'thread CPU time (schedstat run time) over a window with every session backlogged',
    jainIndexBaseline: round(median(fair.baseline), 4),
    jainIndex: round(median(fair.candidate), 4),
    jainIndexSpread: spread(fair.candidate),
    jainIndexCharged: round(median(fair.chargedJain), 4),
    weights,
    weightedMaxErrorPct: round(median(weighted.errorPct), 2),
    weightedMaxErrorPctSpread: spread(weighted.errorPct),
    weightedMaxErrorPctCharged: round(median(weighted.chargedErrorPct), 2),
    weightedMaxErrorPctFixedCharging: round(median(weighted.fixedErrorPct), 2),
    weightedShares: weighted.shares.at(-1)!.map((s) => round(s, 4)),
    quanta: quantaMs.map((quantumMs) => ({
      quantumMs,
      overheadPct: round(median(overhead[quantumMs]), 2),
      overheadPctSpread: spread(overhead[quantumMs]),
      cpuOverheadPct: round(median(cpuOverhead[quantumMs]), 2),
      handoffsPerSec: Math.round(median(handoffs[quantumMs])),
      intervalMaxMs: round(median(holdMax[quantumMs]), 3),
    })),
    aloneOverheadPct: round(median(alone), 2),
    aloneOverheadPctSpread: spread(alone),
  };
  const summary = {
    overheadPctAt1Ms: result.quanta.find((q) => q.quantumMs === 1)!.overheadPct,
    weightedMaxErrorPct: result.weightedMaxErrorPct,
    weightedMaxErrorPctFixedCharging: result.weightedMaxErrorPctFixedCharging,
    jainIndex: result.jainIndex,
  };
  const markdown = [
    `Five synthetic sessions (kernels ${kernelSizesMs.join(', ')} ms), pinned to ${cores} core(s), K = ${cores}; median of ${reps}.`,
    `Share = ${result.shareMeasure}. Gated sessions are charged their thread's CPU time, as a wasm or cpu session is.`,
    '',
    table(
      ['measure', 'baseline (ungated)', 'arbiter', 'target'],
      [
        ['Jain index, fair', result.jainIndexBaseline, result.jainIndex, '≥ 0.99'],
        ['weighted max error % (1:2:3:4:5)', '—', result.weightedMaxErrorPct, '≤ 3'],
        ['weighted max error %, charging fixed kernel costs', '—', result.weightedMaxErrorPctFixedCharging, '—'],
      ],
    ),
    '',
    table(
      ['quantumMs', 'overheadPct', 'spread', 'session CPU time +%', 'handoffsPerSec', 'intervalMaxMs'],
      result.quanta.map((q) => [
        q.quantumMs,
        q.overheadPct,
        `${round(q.overheadPctSpread.min, 2)} … ${round(q.overheadPctSpread.max, 2)}`,
        q.cpuOverheadPct,
        q.handoffsPerSec,
        q.intervalMaxMs,
      ]),
    ),
    '',
    `One session alone (nobody to hand over to), kernels 0.5 ms, quantum 1 ms: overhead ${result.aloneOverheadPct}% (spread ${round(result.aloneOverheadPctSpread.min, 2)} … ${round(result.aloneOverheadPctSpread.max, 2)}).`,
    "session CPU time +% = the session threads' CPU time for the same work, gated vs ungated: how much of the makespan overhead is work done by the sessions themselves rather than an idle device.",
    '',
    'Overhead targets: ≤ 1% at 1 ms, ≤ 0.5% at 2 ms. The interval is the longest a session held the token before handing it on: max(quantum, kernel).',
  ].join('\n');
  console.log(`wrote ${writeResults(meta, { summary, ...result }, markdown)}`);
}
