/**
 * quantum: the same fixed work (three zoo models with short kernels, a fixed number of requests each) with
 * no arbiter and with the arbiter at each quantum, interleaved; overheadPct = extra makespan vs ungated.
 * Session threads share one device core, K = 1.
 */
import { startProgress } from './lib/progress.js';
import { benchMeta, pinForBackend, table, writeResults, type BenchOptions } from './lib/report.js';
import { runFixedWork, sizedFor, type ServingModel } from './lib/serving.js';
import { ci95, median, round, spread } from './lib/stats.js';

const models: ServingModel[] = [
  { name: 'mobilenet_v2', zoo: 'mobilenet_v2', inputSize: 64 },
  { name: 'googlenet', zoo: 'googlenet', inputSize: 64 },
  { name: 'resnet50', zoo: 'resnet50', inputSize: 64 },
];
const quanta = [0.25, 0.5, 1, 2, 5, 10];

export async function run(options: BenchOptions) {
  const { quick, backend } = options;
  pinForBackend(backend, '0');
  const meta = await benchMeta('quantum', options);
  const sized = sizedFor(models, meta);
  // Makespans on this VM wander by several percent from run to run: five interleaved pairs per quantum, and
  // a confidence interval beside the median, so a reader can tell a real overhead from noise.
  const reps = quick ? 1 : 5;
  const requestsPerModel = quick ? 15 : 60;
  const rows = [];
  const per = new Map(
    quanta.map((q) => [q, { overhead: [] as number[], handoffs: [] as number[], interval: [] as number[] }]),
  );
  const longestKernelMs: Record<string, number> = {};
  const progress = startProgress('quantum', reps * quanta.length);
  for (let rep = 0; rep < reps; rep++) {
    for (const quantumMs of rep % 2 === 0 ? quanta : [...quanta].reverse()) {
      progress.label(`rep ${rep + 1} quantum ${quantumMs} ms`);
      const work = { models: sized, backend, deviceCpus: '1', quantumMs, tokens: 1, requestsPerModel };
      const ungated = await runFixedWork({ ...work, arbiter: false });
      const gated = await runFixedWork({ ...work, arbiter: true });
      for (const [name, ms] of Object.entries(gated.longestKernelMs))
        longestKernelMs[name] = Math.max(longestKernelMs[name] ?? 0, ms);
      progress.tick();
      const entry = per.get(quantumMs)!;
      entry.overhead.push((gated.makespanMs / ungated.makespanMs - 1) * 100);
      entry.handoffs.push(gated.handoffsPerSec);
      entry.interval.push(gated.intervalMaxMs);
      progress.log(
        `rep ${rep + 1} quantum ${quantumMs} ms: ${round(ungated.makespanMs)} → ${round(gated.makespanMs)} ms (${round(entry.overhead.at(-1)!, 2)}%), ${round(gated.handoffsPerSec)} handoffs/s`,
      );
    }
  }
  progress.stop();
  for (const quantumMs of quanta) {
    const entry = per.get(quantumMs)!;
    rows.push({
      quantumMs,
      overheadPct: round(median(entry.overhead), 2),
      overheadPctSpread: spread(entry.overhead),
      overheadPctCi95:
        reps > 1 ? (({ low, high }) => ({ low: round(low, 2), high: round(high, 2) }))(ci95(entry.overhead)) : null,
      handoffsPerSec: Math.round(median(entry.handoffs)),
      intervalMaxMs: round(median(entry.interval), 2),
    });
  }
  const markdown = [
    `${sized.map((m) => `${m.zoo}@${m.inputSize}`).join(', ')}: ${requestsPerModel} requests each, one client per model; ${backend === 'wasm' ? 'session threads on one device core' : 'on webgpu'}, K = 1; median of ${reps}.`,
    'overheadPct = makespan with the arbiter / makespan without − 1. intervalMaxMs = the longest a session held the token before handing it on (max(quantum, kernel) plus scheduling).',
    `Longest kernel per model (a kernel cannot be preempted): ${Object.entries(longestKernelMs)
      .map(([name, ms]) => `${name} ${round(ms, 2)} ms`)
      .join(', ')}.`,
    '',
    table(
      ['quantumMs', 'overheadPct (median)', 'spread', '95% CI of the mean', 'handoffsPerSec', 'intervalMaxMs'],
      rows.map((r) => [
        r.quantumMs,
        r.overheadPct,
        `${round(r.overheadPctSpread.min, 2)} … ${round(r.overheadPctSpread.max, 2)}`,
        r.overheadPctCi95 ? `${r.overheadPctCi95.low} … ${r.overheadPctCi95.high}` : '—',
        r.handoffsPerSec,
        r.intervalMaxMs,
      ]),
    ),
    '',
    'Targets: overhead ≤ 1% at 1 ms and ≤ 0.5% at 2 ms.',
  ].join('\n');
  console.log(
    `wrote ${writeResults(meta, { requestsPerModel, repetitions: reps, longestKernelMs: Object.fromEntries(Object.entries(longestKernelMs).map(([name, ms]) => [name, round(ms, 3)])), rows }, markdown)}`,
  );
}
