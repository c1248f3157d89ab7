/**
 * tokens: how many tokens the device should have. Four models with closed-loop clients share all the cores:
 * no arbiter against K = 1, K = cores and K = cores + 1, interleaved. Completed work (each model's requests
 * × its solo cost, measured in the same run) beside fairness (Jain index of each model's thread CPU time) and
 * the token time that stood idle while work waited. summary.throughputRatio is K = cores over no arbiter.
 */
import { availableParallelism } from 'node:os';
import { startProgress } from './lib/progress.js';
import { benchMeta, table, writeResults, type BenchOptions } from './lib/report.js';
import { completedWork, runPhase, sizedFor, soloCostsMs, type PhaseResult, type ServingModel } from './lib/serving.js';
import { jainIndex, median, round, spread } from './lib/stats.js';

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
    { label: `K = ${cores + 1}`, arbiter: true, tokens: cores + 1 },
  ];
  const progress = startProgress('tokens', reps * configs.length + 1);
  progress.label('solo costs');
  const soloMs = await soloCostsMs(sized, backend);
  progress.tick();
  const results = new Map(configs.map((c) => [c.label, [] as PhaseResult[]]));
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
      progress.tick();
      progress.log(
        `rep ${rep + 1} ${config.label}: completed work ${round(completedWork(result, soloMs, windowMs), 0)} ms/s, Jain ${round(jainIndex(result.sessions.map((s) => s.share)), 4)}, tokens idle ${round(result.tokenIdleShare * 100, 1)}%`,
      );
    }
  }
  progress.stop();
  const baselineWork = results.get('no arbiter')!.map((r) => completedWork(r, soloMs, windowMs));
  const rows = configs.map((config) => {
    const runs = results.get(config.label)!;
    const work = runs.map((r) => completedWork(r, soloMs, windowMs));
    // Each repetition against the baseline of the same repetition: the machine drifts between them.
    const ratios = work.map((w, i) => w / baselineWork[i]);
    return {
      config: config.label,
      tokens: config.arbiter ? config.tokens : null,
      completedWorkMsPerSec: round(median(work), 0),
      throughputRatio: round(median(ratios), 3),
      throughputRatioSpread: spread(ratios.map((r) => round(r, 3))),
      totalRequestsPerSec: round(
        median(runs.map((r) => r.sessions.reduce((sum, s) => sum + s.throughputPerSec, 0))),
        1,
      ),
      totalCpuMs: round(median(runs.map((r) => r.sessions.reduce((sum, s) => sum + s.cpuMs, 0))), 0),
      jainIndex: round(median(runs.map((r) => jainIndex(r.sessions.map((s) => s.share)))), 4),
      tokenIdlePct: round(median(runs.map((r) => r.tokenIdleShare * 100)), 1),
    };
  });
  const row = (label: string) => rows.find((r) => r.config === label)!;
  const summary = {
    throughputRatio: row(`K = ${cores}`).throughputRatio,
    throughputRatioCoresPlusOne: row(`K = ${cores + 1}`).throughputRatio,
    throughputRatioOneToken: row('K = 1').throughputRatio,
    jainIndexBaseline: row('no arbiter').jainIndex,
    jainIndex: row(`K = ${cores}`).jainIndex,
    jainIndexCoresPlusOne: row(`K = ${cores + 1}`).jainIndex,
    tokenIdlePct: row(`K = ${cores}`).tokenIdlePct,
  };
  const markdown = [
    backend === 'wasm'
      ? `${sized.map((m) => `${m.zoo}@${m.inputSize}`).join(', ')} with 2 closed-loop clients each, on all ${cores} cores (the main thread too); quantum 2 ms; ${windowMs / 1000} s windows, median of ${reps}.`
      : `${sized.map((m) => `${m.zoo}@${m.inputSize}`).join(', ')} with 2 closed-loop clients each on webgpu; ${windowMs / 1000} s windows, median of ${reps}.`,
    `Completed work = Σ requests × the model's solo cost (${Object.entries(soloMs)
      .map(([name, ms]) => `${name} ${round(ms, 1)} ms`)
      .join(
        ', ',
      )}) per second; the ratio is against the no-arbiter run of the same repetition. Fairness = Jain index of each model's ${backend === 'wasm' ? 'thread CPU time' : 'GPU time (timestamp queries)'}. Tokens idle = token time no session kept busy while work waited, of K × the window.`,
    '',
    table(
      [
        'config',
        'completedWorkMsPerSec',
        'throughputRatio',
        'spread',
        'totalRequestsPerSec',
        'totalCpuMs',
        'jainIndex',
        'tokenIdlePct',
      ],
      rows.map((r) => [
        r.config,
        r.completedWorkMsPerSec,
        r.throughputRatio,
        `${r.throughputRatioSpread.min}–${r.throughputRatioSpread.max}`,
        r.totalRequestsPerSec,
        r.totalCpuMs,
        r.jainIndex,
        r.tokenIdlePct,
      ]),
    ),
  ].join('\n');
  console.log(`wrote ${writeResults(meta, { cores, windowMs, repetitions: reps, soloMs, summary, rows }, markdown)}`);
}
