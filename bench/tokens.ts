/**
 * tokens: K = 1 against K = cores, four models with closed-loop clients sharing both cores: total throughput
 * and fairness each way, with the ungated baseline beside them. An exclusive token costs throughput where
 * models used to overlap; more tokens give some of it back, at some cost in how evenly the cores are shared.
 */
import { availableParallelism } from 'node:os';
import { startProgress } from './lib/progress.js';
import { benchMeta, table, writeResults, type BenchOptions } from './lib/report.js';
import { runPhase, sizedFor, type PhaseResult, type ServingModel } from './lib/serving.js';
import { jainIndex, median, round } from './lib/stats.js';

const models: ServingModel[] = [
  { name: 'mobilenet_v2', zoo: 'mobilenet_v2', inputSize: 96 },
  { name: 'googlenet', zoo: 'googlenet', inputSize: 96 },
  { name: 'resnet50', zoo: 'resnet50', inputSize: 96 },
  { name: 'alexnet', zoo: 'alexnet', inputSize: 127 },
];

export async function run(options: BenchOptions) {
  const { quick, backend } = options;
  // On a GPU the second token is the second "core": K = 1 against K = 2.
  const cores = backend === 'wasm' ? availableParallelism() : 2;
  const meta = await benchMeta('tokens', options);
  const reps = quick ? 1 : 3;
  const windowMs = quick ? 8000 : 20000;
  const sized = sizedFor(models, meta);
  const configs = [
    { label: 'no arbiter', arbiter: false, tokens: cores },
    { label: 'K = 1', arbiter: true, tokens: 1 },
    { label: `K = ${cores}`, arbiter: true, tokens: cores },
  ];
  const results = new Map(configs.map((c) => [c.label, [] as PhaseResult[]]));
  const progress = startProgress('tokens', reps * configs.length);
  for (let rep = 0; rep < reps; rep++) {
    for (const config of rep % 2 === 0 ? configs : [...configs].reverse()) {
      progress.label(`rep ${rep + 1} ${config.label}`);
      const result = await runPhase({
        models: sized,
        backend,
        deviceCpus: `0-${cores - 1}`,
        arbiter: config.arbiter,
        policy: 'fair',
        quantumMs: 2,
        tokens: config.tokens,
        warmupMs: 2000,
        windowMs,
      });
      results.get(config.label)!.push(result);
      const total = result.sessions.reduce((sum, s) => sum + s.throughputPerSec, 0);
      progress.tick();
      progress.log(
        `rep ${rep + 1} ${config.label}: ${round(total, 1)} req/s, Jain ${round(jainIndex(result.sessions.map((s) => s.share)), 4)}`,
      );
    }
  }
  progress.stop();
  const rows = configs.map((config) => {
    const runs = results.get(config.label)!;
    return {
      config: config.label,
      tokens: config.arbiter ? config.tokens : null,
      totalThroughputPerSec: round(
        median(runs.map((r) => r.sessions.reduce((sum, s) => sum + s.throughputPerSec, 0))),
        1,
      ),
      totalCpuMs: round(median(runs.map((r) => r.sessions.reduce((sum, s) => sum + s.cpuMs, 0))), 0),
      jainIndex: round(median(runs.map((r) => jainIndex(r.sessions.map((s) => s.share)))), 4),
    };
  });
  const markdown = [
    backend === 'wasm'
      ? `${sized.map((m) => `${m.zoo}@${m.inputSize}`).join(', ')} with 2 closed-loop clients each, on all ${cores} cores (the main thread too); ${windowMs / 1000} s windows, median of ${reps}.`
      : `${sized.map((m) => `${m.zoo}@${m.inputSize}`).join(', ')} with 2 closed-loop clients each on webgpu; ${windowMs / 1000} s windows, median of ${reps}.`,
    `Fairness = Jain index of each session's ${backend === 'wasm' ? 'thread CPU time' : 'GPU time (timestamp queries)'}; throughput = requests completed per second, all models together.`,
    '',
    table(
      ['config', 'totalThroughputPerSec', 'totalCpuMs', 'jainIndex'],
      rows.map((r) => [r.config, r.totalThroughputPerSec, r.totalCpuMs, r.jainIndex]),
    ),
  ].join('\n');
  console.log(`wrote ${writeResults(meta, { cores, windowMs, repetitions: reps, rows }, markdown)}`);
}
