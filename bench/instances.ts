/**
 * instances: three models served by 4, 2 and 1 session threads, two closed-loop clients per instance (every
 * instance backlogged), on all the cores with K = cores. Without the arbiter the OS shares the cores by
 * thread, so a model gets roughly its share of threads; with it the policies share by model, whatever its
 * thread count. Shares per model are its instances' thread CPU time together, over the window in which every
 * model is backlogged; completed work (requests × solo cost) says what the sharing cost.
 */
import { availableParallelism } from 'node:os';
import { startProgress } from './lib/progress.js';
import { benchMeta, table, writeResults, type BenchOptions } from './lib/report.js';
import { completedWork, runPhase, soloCostsMs, type PhaseResult, type ServingModel } from './lib/serving.js';
import { jainIndex, median, round, spread, weightedMaxErrorPct } from './lib/stats.js';

const models: ServingModel[] = [
  { name: 'mobilenet_v2', zoo: 'mobilenet_v2', inputSize: 96, instances: 4 },
  { name: 'googlenet', zoo: 'googlenet', inputSize: 96, instances: 2 },
  { name: 'resnet50', zoo: 'resnet50', inputSize: 64, instances: 1 },
];
/** weighted: the 4-instance model weight 3, the 1-instance model weight 1. */
const weights = [3, 2, 1];

export async function run(options: BenchOptions) {
  const { quick, backend } = options;
  const cores = availableParallelism();
  const meta = await benchMeta('instances', options);
  const reps = quick ? 1 : 3;
  const windowMs = quick ? 6000 : 15000;
  const weightedModels = models.map((m, i) => ({ ...m, weight: weights[i] }));
  const phases = [
    { label: 'no arbiter', arbiter: false, policy: 'fair' as const, models, tokens: cores },
    { label: 'fair', arbiter: true, policy: 'fair' as const, models, tokens: cores },
    { label: 'weighted 3:2:1', arbiter: true, policy: 'weighted' as const, models: weightedModels, tokens: cores },
    // The CPU default: one token of slack (see the tokens bench).
    { label: `fair, K = ${cores + 1}`, arbiter: true, policy: 'fair' as const, models, tokens: cores + 1 },
    {
      label: `weighted 3:2:1, K = ${cores + 1}`,
      arbiter: true,
      policy: 'weighted' as const,
      models: weightedModels,
      tokens: cores + 1,
    },
  ];
  const progress = startProgress('instances', reps * phases.length + 1);
  progress.label('solo costs');
  const soloMs = await soloCostsMs(models, backend);
  progress.tick();
  const results = new Map(phases.map((p) => [p.label, [] as PhaseResult[]]));
  for (let rep = 0; rep < reps; rep++) {
    for (const phase of rep % 2 === 0 ? phases : [...phases].reverse()) {
      progress.label(`rep ${rep + 1} ${phase.label}`);
      const result = await runPhase({
        models: phase.models,
        backend,
        deviceCpus: `0-${cores - 1}`,
        arbiter: phase.arbiter,
        policy: phase.policy,
        quantumMs: 2,
        tokens: phase.tokens,
        warmupMs: 3000,
        windowMs,
      });
      results.get(phase.label)!.push(result);
      progress.tick();
      progress.log(
        `rep ${rep + 1} ${phase.label}: shares ${result.sessions.map((s) => round(s.share, 3)).join(' / ')}, completed work ${round(completedWork(result, soloMs, windowMs), 0)} ms/s`,
      );
    }
  }
  progress.stop();
  const equal = models.map(() => 1 / models.length);
  const weightTargets = weights.map((w) => w / weights.reduce((a, b) => a + b, 0));
  const work = (label: string) => results.get(label)!.map((r) => completedWork(r, soloMs, windowMs));
  const rows = phases.map((phase) => {
    const runs = results.get(phase.label)!;
    const targets = phase.policy === 'weighted' ? weightTargets : equal;
    const ratios = work(phase.label).map((w, i) => w / work('no arbiter')[i]);
    return {
      phase: phase.label,
      shares: models.map((_, i) => round(median(runs.map((r) => r.sessions[i].share)), 4)),
      jainIndex: round(
        median(
          runs.map((r) =>
            jainIndex(
              r.sessions.map((s) => s.share),
              targets,
            ),
          ),
        ),
        4,
      ),
      weightedMaxErrorPct: round(
        median(
          runs.map((r) =>
            weightedMaxErrorPct(
              r.sessions.map((s) => s.share),
              targets,
            ),
          ),
        ),
        2,
      ),
      completedWorkMsPerSec: round(median(work(phase.label)), 0),
      throughputRatio: round(median(ratios), 3),
      throughputRatioSpread: spread(ratios.map((r) => round(r, 3))),
      tokenIdlePct: round(median(runs.map((r) => r.tokenIdleShare * 100)), 1),
    };
  });
  const row = (label: string) => rows.find((r) => r.phase === label)!;
  const summary = {
    jainIndexBaseline: row('no arbiter').jainIndex,
    jainIndex: row('fair').jainIndex,
    weightedMaxErrorPct: row('weighted 3:2:1').weightedMaxErrorPct,
    throughputRatio: row('fair').throughputRatio,
    jainIndexCoresPlusOne: row(`fair, K = ${cores + 1}`).jainIndex,
    weightedMaxErrorPctCoresPlusOne: row(`weighted 3:2:1, K = ${cores + 1}`).weightedMaxErrorPct,
    throughputRatioCoresPlusOne: row(`fair, K = ${cores + 1}`).throughputRatio,
  };
  const markdown = [
    `${models.map((m) => `${m.zoo}@${m.inputSize} × ${m.instances}`).join(', ')} instances, 2 closed-loop clients per instance, on all ${cores} cores with K = ${cores} (and K = ${cores + 1}, the CPU default); quantum 2 ms; ${windowMs / 1000} s windows, median of ${reps}.`,
    `Shares = each model's thread CPU time (its instances together); Jain against equal shares (fair) or 3:2:1 (weighted); completed work = Σ requests × solo cost (${Object.entries(
      soloMs,
    )
      .map(([name, ms]) => `${name} ${round(ms, 1)} ms`)
      .join(', ')}) per second, its ratio against the no-arbiter run of the same repetition.`,
    '',
    table(
      [
        'phase',
        'shares',
        'jainIndex',
        'weightedMaxErrorPct',
        'completedWorkMsPerSec',
        'throughputRatio',
        'spread',
        'tokenIdlePct',
      ],
      rows.map((r) => [
        r.phase,
        r.shares.join(' / '),
        r.jainIndex,
        r.weightedMaxErrorPct,
        r.completedWorkMsPerSec,
        r.throughputRatio,
        `${r.throughputRatioSpread.min}–${r.throughputRatioSpread.max}`,
        r.tokenIdlePct,
      ]),
    ),
  ].join('\n');
  console.log(`wrote ${writeResults(meta, { cores, windowMs, repetitions: reps, soloMs, summary, rows }, markdown)}`);
}
