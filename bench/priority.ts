/**
 * priority: one small high-priority model with an open-loop request stream against four heavy low-priority
 * models with closed-loop clients. The high-priority model's latency alone, under that load with no arbiter,
 * and under that load with the `priority` policy. A kernel cannot be preempted, so the bound is
 * p99 alone + max(quantum, longest low-priority kernel) + 10%.
 */
import { startProgress } from './lib/progress.js';
import { benchMeta, pinForBackend, table, writeResults, type BenchOptions } from './lib/report.js';
import { runPhase, sizedFor, type ServingModel } from './lib/serving.js';
import { median, round } from './lib/stats.js';

const high: ServingModel = {
  name: 'urgent',
  zoo: 'mobilenet_v2',
  inputSize: 64,
  priority: 1,
  // Two instances on one account: the bound must hold for a model served by several threads too.
  instances: 2,
  clients: 0,
  intervalMs: 40,
};
const background: ServingModel[] = [
  { name: 'alexnet', zoo: 'alexnet', inputSize: 127, priority: 0 },
  { name: 'vgg16', zoo: 'vgg16', inputSize: 64, priority: 0 },
  { name: 'inception_v3', zoo: 'inception_v3', inputSize: 107, priority: 0 },
  { name: 'resnet50', zoo: 'resnet50', inputSize: 96, priority: 0 },
];
const quantumMs = 2;

export async function run(options: BenchOptions) {
  const { quick, backend } = options;
  pinForBackend(backend, '0');
  const meta = await benchMeta('priority', options);
  const [urgent, ...load] = sizedFor([high, ...background], meta);
  const reps = quick ? 1 : 3;
  const windowMs = quick ? 8000 : 20000;
  const warmupMs = quick ? 2000 : 4000;
  const phases = [
    { label: 'alone', models: [urgent], arbiter: true },
    { label: 'under load, no arbiter', models: [urgent, ...load], arbiter: false },
    { label: 'under load, priority', models: [urgent, ...load], arbiter: true },
  ];
  const results = new Map(
    phases.map((p) => [
      p.label,
      [] as Array<{ p50Ms: number; p99Ms: number; longestLowKernelMs: number; requests: number }>,
    ]),
  );
  const cdf: Record<string, Array<[number, number]>> = {};
  const progress = startProgress('priority', reps * phases.length);
  for (let rep = 0; rep < reps; rep++) {
    for (const phase of rep % 2 === 0 ? phases : [...phases].reverse()) {
      progress.label(`rep ${rep + 1} ${phase.label}`);
      const result = await runPhase({
        models: phase.models,
        backend,
        deviceCpus: '1',
        arbiter: phase.arbiter,
        policy: 'priority',
        quantumMs,
        tokens: 1,
        warmupMs,
        windowMs,
      });
      progress.tick();
      const measured = result.sessions[0];
      const longestLowKernelMs = Math.max(0, ...result.sessions.slice(1).map((s) => s.longestKernelMs));
      results
        .get(phase.label)!
        .push({ p50Ms: measured.p50Ms, p99Ms: measured.p99Ms, longestLowKernelMs, requests: measured.requests });
      cdf[phase.label] = cdfPoints(measured.latenciesMs);
      progress.log(
        `rep ${rep + 1} ${phase.label}: p50 ${round(measured.p50Ms, 1)} ms, p99 ${round(measured.p99Ms, 1)} ms (${measured.requests} requests)`,
      );
    }
  }
  progress.stop();
  const rows = phases.map((phase) => {
    const runs = results.get(phase.label)!;
    return {
      phase: phase.label,
      p50Ms: round(median(runs.map((r) => r.p50Ms)), 1),
      p99Ms: round(median(runs.map((r) => r.p99Ms)), 1),
      requests: Math.round(median(runs.map((r) => r.requests))),
    };
  });
  const longestLowKernelMs = round(median(results.get('under load, priority')!.map((r) => r.longestLowKernelMs)), 2);
  const boundMs = round((rows[0].p99Ms + Math.max(quantumMs, longestLowKernelMs)) * 1.1, 1);
  const met = rows[2].p99Ms <= boundMs;
  const markdown = [
    `High-priority ${urgent.zoo}@${urgent.inputSize} (${urgent.instances ?? 1} instances), one request every ${urgent.intervalMs} ms (open loop), against ${load.map((m) => `${m.zoo}@${m.inputSize}`).join(', ')} (2 closed-loop clients each, priority 0). ${backend === 'wasm' ? 'Session threads on one device core' : 'On webgpu'}, K = 1, quantum ${quantumMs} ms; median of ${reps}.`,
    '',
    table(
      ['phase', 'p50Ms', 'p99Ms', 'requests'],
      rows.map((r) => [r.phase, r.p50Ms, r.p99Ms, r.requests]),
    ),
    '',
    `Longest low-priority kernel (measured by the gate): ${longestLowKernelMs} ms. Bound: p99 alone + max(quantum, longest kernel) + 10% = ${boundMs} ms — met: ${met}.`,
  ].join('\n');
  const summary = { p99AloneMs: rows[0].p99Ms, p99UnderLoadMs: rows[2].p99Ms, boundMs, targetMet: met ? 1 : 0 };
  console.log(
    `wrote ${writeResults(meta, { quantumMs, windowMs, repetitions: reps, summary, rows, longestLowKernelMs, boundMs, targetMet: met, cdf }, markdown)}`,
  );
}

/** At most 60 (latency, fraction ≤) points of a sorted sample, for the CDF chart (last repetition). */
function cdfPoints(latencies: number[]): Array<[number, number]> {
  const sorted = [...latencies].sort((a, b) => a - b);
  const step = Math.max(1, Math.floor(sorted.length / 60));
  const points: Array<[number, number]> = [];
  for (let i = step - 1; i < sorted.length; i += step)
    points.push([round(sorted[i], 2), round((i + 1) / sorted.length, 4)]);
  return points;
}
