/**
 * synthetic --backend webgpu: the synthetic bench on the GPU. Five sessions, each a worker thread with a
 * GPUDevice of its own, whose kernels are compute dispatches of calibrated solo GPU time (0.05–2 ms); K = 1
 * token, nothing pinned (the GPU is the device). Share = solo cost of the kernels whose inference the GPU
 * finished, over a window in which every session is backlogged (with timestamp queries, each session's summed
 * dispatch GPU time is reported beside it); overhead = makespan of the same fixed work gated vs ungated, per
 * quantum and gate mode, each gated run right after an ungated one. On a software adapter (lavapipe runs the
 * shaders on the CPU cores) every figure is a functional check only.
 */
import { DeviceArbiter, type ArbiterOptions } from '../src/index.js';
import { calibrateWebgpuSpin, SyntheticFleet, type SyntheticSessionSpec } from './lib/synthetic-fleet.js';
import type { GateMode } from '../src/protocol/session-messages.js';
import { startProgress } from './lib/progress.js';
import { fixedWorkRun } from './lib/synthetic-work.js';
import { adapterName, benchMeta, table, writeResults, type BenchOptions } from './lib/report.js';
import { jainIndex, median, normalise, round, spread, weightedMaxErrorPct } from './lib/stats.js';

const kernelSizesMs = [0.05, 0.1, 0.5, 1, 2];
const weights = [1, 2, 3, 4, 5];
const quantaMs = [0.5, 1, 2, 5];
const gateModes: GateMode[] = ['overlap', 'strict'];
const kernelsPerInference = 10;

const specs = (withWeights: boolean): SyntheticSessionSpec[] =>
  kernelSizesMs.map((kernelMs, i) => ({
    name: `k${kernelMs}ms`,
    kernelMs,
    kernelsPerInference,
    ...(withWeights ? { weight: weights[i] } : {}),
  }));

interface Setup {
  iterationsPerMs: number;
  gpuTiming: boolean;
  windowMs: number;
  warmupMs: number;
}

interface ShareRun {
  workShares: number[];
  gpuShares: number[] | null;
  chargedShares: number[] | null;
}

async function shareRun(
  arbiterOptions: ArbiterOptions | null,
  gateMode: GateMode,
  withWeights: boolean,
  setup: Setup,
): Promise<ShareRun> {
  const arbiter = arbiterOptions ? new DeviceArbiter(arbiterOptions) : undefined;
  const { iterationsPerMs, gpuTiming } = setup;
  const fleet = await SyntheticFleet.start(specs(withWeights), {
    arbiter,
    iterationsPerMs,
    device: 'webgpu',
    gateMode,
    gpuTiming,
  });
  try {
    fleet.go();
    const window = await fleet.measureWindow(setup.windowMs, setup.warmupMs);
    fleet.stop();
    await fleet.finished();
    return {
      workShares: normalise(window.workMs!),
      gpuShares: gpuTiming ? normalise(window.gpuMs!) : null,
      chargedShares: arbiter ? normalise(window.chargedMs) : null,
    };
  } finally {
    await fleet.terminate();
    arbiter?.close();
  }
}

// Fixed work: every session runs the same solo GPU time of kernels, in whole inferences.
const workRun = (
  arbiterOptions: ArbiterOptions | null,
  gateMode: GateMode,
  workMsPerSession: number,
  iterationsPerMs: number,
  sizes = kernelSizesMs,
) =>
  fixedWorkRun(
    arbiterOptions,
    sizes.map((kernelMs) => ({
      name: `k${kernelMs}ms`,
      kernelMs,
      kernelsPerInference,
      maxKernels: kernelsPerInference * Math.max(1, Math.round(workMsPerSession / kernelMs / kernelsPerInference)),
    })),
    { iterationsPerMs, device: 'webgpu', gateMode },
  );

const perMode = <T>(make: () => T): Record<GateMode, T> => ({ overlap: make(), strict: make() });
const key = (gateMode: GateMode, quantumMs: number) => `${gateMode}/${quantumMs}`;

export async function runWebgpu(options: BenchOptions) {
  const { quick } = options;
  const meta = await benchMeta('synthetic', options);
  const adapter = meta.adapter!;
  const reps = quick ? 1 : 3;
  const workMs = quick ? 100 : 600;
  const progress = startProgress('synthetic', 1 + reps * (2 + quantaMs.length * gateModes.length + 1), 'calibrating');
  const calibration = await calibrateWebgpuSpin();
  const setup: Setup = {
    iterationsPerMs: calibration.iterationsPerMs,
    gpuTiming: adapter.timestampQuery,
    windowMs: quick ? 1000 : 4000,
    warmupMs: quick ? 300 : 500,
  };
  const base: ArbiterOptions = { tokens: 1 };
  progress.tick();
  progress.log(
    `adapter ${adapterName(adapter)}${adapter.software ? ' (software: figures are functional only)' : ''}; ${round(calibration.iterationsPerMs, 0)} iterations per solo GPU ms (${calibration.method}); ${reps} repetition(s)`,
  );

  const fair = {
    baseline: [] as number[],
    baselineGpu: [] as number[],
    ...perMode(() => ({
      work: [] as number[],
      gpu: [] as number[],
      charged: [] as number[],
      shares: [] as number[][],
    })),
  };
  const weighted = perMode(() => ({
    work: [] as number[],
    gpu: [] as number[],
    charged: [] as number[],
    shares: [] as number[][],
  }));
  const overhead = new Map<
    string,
    { pct: number[]; handoffs: number[]; holdMax: number[]; ungatedMs: number[]; gatedMs: number[] }
  >();
  for (const gateMode of gateModes)
    for (const q of quantaMs)
      overhead.set(key(gateMode, q), { pct: [], handoffs: [], holdMax: [], ungatedMs: [], gatedMs: [] });
  const alone = perMode(() => [] as number[]);
  const targets = normalise(weights);
  const fmt = (shares: number[]) => shares.map((s) => round(s, 3)).join(' ');

  for (let rep = 0; rep < reps; rep++) {
    progress.label(`rep ${rep + 1} fair`);
    const baseline = await shareRun(null, 'overlap', false, setup);
    fair.baseline.push(jainIndex(baseline.workShares));
    if (baseline.gpuShares) fair.baselineGpu.push(jainIndex(baseline.gpuShares));
    for (const gateMode of gateModes) {
      const run = await shareRun({ ...base, policy: 'fair', quantumMs: 1 }, gateMode, false, setup);
      fair[gateMode].work.push(jainIndex(run.workShares));
      if (run.gpuShares) fair[gateMode].gpu.push(jainIndex(run.gpuShares));
      fair[gateMode].charged.push(jainIndex(run.chargedShares!));
      fair[gateMode].shares.push(run.workShares);
      progress.log(
        `rep ${rep + 1} fair (${gateMode}): Jain ${round(fair[gateMode].work.at(-1)!, 4)}, ungated ${round(fair.baseline.at(-1)!, 4)} (work shares ${fmt(run.workShares)})`,
      );
    }
    progress.tick(`rep ${rep + 1} weighted`);

    for (const gateMode of gateModes) {
      const run = await shareRun({ ...base, policy: 'weighted', quantumMs: 1 }, gateMode, true, setup);
      weighted[gateMode].work.push(weightedMaxErrorPct(run.workShares, targets));
      if (run.gpuShares) weighted[gateMode].gpu.push(weightedMaxErrorPct(run.gpuShares, targets));
      weighted[gateMode].charged.push(weightedMaxErrorPct(run.chargedShares!, targets));
      weighted[gateMode].shares.push(run.workShares);
      progress.log(
        `rep ${rep + 1} weighted 1:2:3:4:5 (${gateMode}): max error ${round(weighted[gateMode].work.at(-1)!, 2)}% (work shares ${fmt(run.workShares)})`,
      );
    }
    progress.tick();

    // Interleave: an ungated baseline before every gated run, the quanta in a rotated order each repetition.
    const order = quantaMs.map((_, i) => quantaMs[(i + rep) % quantaMs.length]);
    for (const quantumMs of order) {
      for (const gateMode of gateModes) {
        const ungated = await workRun(null, gateMode, workMs, setup.iterationsPerMs);
        const gated = await workRun({ ...base, policy: 'fair', quantumMs }, gateMode, workMs, setup.iterationsPerMs);
        const row = overhead.get(key(gateMode, quantumMs))!;
        row.pct.push((gated.makespanMs / ungated.makespanMs - 1) * 100);
        row.handoffs.push(gated.handoffsPerSec);
        row.holdMax.push(gated.holdMaxMs);
        row.ungatedMs.push(ungated.makespanMs);
        row.gatedMs.push(gated.makespanMs);
        progress.tick(`rep ${rep + 1} quantum ${quantumMs} ms ${gateMode} done`);
        progress.log(
          `rep ${rep + 1} quantum ${quantumMs} ms ${gateMode}: overhead ${round(row.pct.at(-1)!, 2)}% (${round(ungated.makespanMs, 1)} → ${round(gated.makespanMs, 1)} ms), ${Math.round(gated.handoffsPerSec)} handoffs/s`,
        );
      }
    }
    // The gate with nobody to hand over to (one session, kernels of 0.5 ms): what gating costs without handoffs.
    for (const gateMode of gateModes) {
      const soloUngated = await workRun(null, gateMode, workMs, setup.iterationsPerMs, [0.5]);
      const soloGated = await workRun(
        { ...base, policy: 'fair', quantumMs: 1 },
        gateMode,
        workMs,
        setup.iterationsPerMs,
        [0.5],
      );
      alone[gateMode].push((soloGated.makespanMs / soloUngated.makespanMs - 1) * 100);
      progress.log(
        `rep ${rep + 1} one session alone, quantum 1 ms, ${gateMode}: overhead ${round(alone[gateMode].at(-1)!, 2)}%`,
      );
    }
    progress.tick();
  }
  progress.stop();
  const result = buildResult({ quick, reps, workMs, setup, calibration, fair, weighted, overhead, alone });
  console.log(`wrote ${writeResults(meta, result, renderMarkdown(result, adapterName(adapter), adapter.software))}`);
}

type Samples = { work: number[]; gpu: number[]; charged: number[]; shares: number[][] };

interface ResultInput {
  quick: boolean;
  reps: number;
  workMs: number;
  setup: Setup;
  calibration: Awaited<ReturnType<typeof calibrateWebgpuSpin>>;
  fair: { baseline: number[]; baselineGpu: number[] } & Record<GateMode, Samples>;
  weighted: Record<GateMode, Samples>;
  overhead: Map<
    string,
    { pct: number[]; handoffs: number[]; holdMax: number[]; ungatedMs: number[]; gatedMs: number[] }
  >;
  alone: Record<GateMode, number[]>;
}

const medianOrNull = (values: number[], digits: number) => (values.length ? round(median(values), digits) : null);

function buildResult({ reps, workMs, setup, calibration, fair, weighted, overhead, alone }: ResultInput) {
  return {
    tokens: 1,
    kernelSizesMs,
    kernelsPerInference,
    windowMs: setup.windowMs,
    workMsPerSession: workMs,
    repetitions: reps,
    calibration: { iterationsPerMs: round(calibration.iterationsPerMs, 1), method: calibration.method },
    shareMeasure:
      'completed work: solo GPU cost of the kernels whose inference the GPU finished, over a window with every session backlogged',
    verdictMeasure: 'completed work',
    gpuTimeMeasure: setup.gpuTiming ? 'summed dispatch GPU time (timestamp queries), same window' : null,
    jainIndexBaseline: round(median(fair.baseline), 4),
    jainIndexBaselineGpuTime: medianOrNull(fair.baselineGpu, 4),
    fair: gateModes.map((gateMode) => ({
      gateMode,
      jainIndex: round(median(fair[gateMode].work), 4),
      jainIndexSpread: spread(fair[gateMode].work),
      jainIndexGpuTime: medianOrNull(fair[gateMode].gpu, 4),
      jainIndexCharged: round(median(fair[gateMode].charged), 4),
      shares: fair[gateMode].shares.at(-1)!.map((s) => round(s, 4)),
    })),
    weights,
    weighted: gateModes.map((gateMode) => ({
      gateMode,
      maxErrorPct: round(median(weighted[gateMode].work), 2),
      maxErrorPctSpread: spread(weighted[gateMode].work),
      maxErrorPctGpuTime: medianOrNull(weighted[gateMode].gpu, 2),
      maxErrorPctCharged: round(median(weighted[gateMode].charged), 2),
      shares: weighted[gateMode].shares.at(-1)!.map((s) => round(s, 4)),
    })),
    quanta: gateModes.flatMap((gateMode) =>
      quantaMs.map((quantumMs) => {
        const row = overhead.get(key(gateMode, quantumMs))!;
        return {
          gateMode,
          quantumMs,
          overheadPct: round(median(row.pct), 2),
          overheadPctSpread: spread(row.pct),
          ungatedMakespanMs: round(median(row.ungatedMs), 1),
          gatedMakespanMs: round(median(row.gatedMs), 1),
          handoffsPerSec: Math.round(median(row.handoffs)),
          intervalMaxMs: round(median(row.holdMax), 3),
        };
      }),
    ),
    alone: gateModes.map((gateMode) => ({
      gateMode,
      overheadPct: round(median(alone[gateMode]), 2),
      overheadPctSpread: spread(alone[gateMode]),
    })),
  };
}

function renderMarkdown(result: ReturnType<typeof buildResult>, adapter: string, software: boolean): string {
  const range = (s: { min: number; max: number }, digits: number) =>
    `${round(s.min, digits)} … ${round(s.max, digits)}`;
  return [
    `Five synthetic GPU sessions (kernels ${kernelSizesMs.join(', ')} ms of solo GPU time, ${kernelsPerInference} per inference), each with its own GPUDevice, K = 1; median of ${result.repetitions}.`,
    `Adapter: ${adapter}.${software ? ' **Software adapter (lavapipe runs the shaders on the CPU cores): every figure below is a functional check, not a measurement of GPU sharing.**' : ''}`,
    `Calibration: ${result.calibration.iterationsPerMs} iterations per solo GPU ms (${result.calibration.method}).`,
    `Share = ${result.shareMeasure}; the verdicts use ${result.verdictMeasure}.${result.gpuTimeMeasure ? ` Beside it: ${result.gpuTimeMeasure}.` : ' No timestamp queries on this adapter: no GPU-time shares.'}`,
    '',
    table(
      ['measure', 'gate mode', 'baseline (ungated)', 'arbiter', 'by GPU time', 'by charged cost', 'target'],
      [
        ...result.fair.map((f) => [
          'Jain index, fair',
          f.gateMode,
          result.jainIndexBaseline,
          f.jainIndex,
          f.jainIndexGpuTime ?? '—',
          f.jainIndexCharged,
          '≥ 0.99',
        ]),
        ...result.weighted.map((w) => [
          'weighted max error % (1:2:3:4:5)',
          w.gateMode,
          '—',
          w.maxErrorPct,
          w.maxErrorPctGpuTime ?? '—',
          w.maxErrorPctCharged,
          '≤ 3',
        ]),
      ],
    ),
    '',
    table(
      ['gate mode', 'quantumMs', 'overheadPct', 'spread', 'ungated ms', 'gated ms', 'handoffsPerSec', 'intervalMaxMs'],
      result.quanta.map((q) => [
        q.gateMode,
        q.quantumMs,
        q.overheadPct,
        range(q.overheadPctSpread, 2),
        q.ungatedMakespanMs,
        q.gatedMakespanMs,
        q.handoffsPerSec,
        q.intervalMaxMs,
      ]),
    ),
    '',
    ...result.alone.map(
      (a) =>
        `One session alone (nobody to hand over to), kernels 0.5 ms, quantum 1 ms, ${a.gateMode}: overhead ${a.overheadPct}% (spread ${range(a.overheadPctSpread, 2)}).`,
    ),
    '',
    "overlap: the token goes back once an inference is submitted, and the session waits for its results without it. strict: at a quantum boundary with another session waiting, the session waits until the GPU has run its work before offering the token (alone, it renews its quantum without waiting), and it keeps the token to the end of an inference's GPU work. Every session has at most one inference in flight. The ungated baseline lets the driver interleave the five devices' queues as it likes.",
  ].join('\n');
}
