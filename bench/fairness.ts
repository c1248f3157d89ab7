/**
 * fairness (and weighted): the paper's five models served at once with closed-loop clients. The session
 * threads share one "device" core (CPU 1) with K = 1; the main thread, which dispatches, stays on CPU 0.
 * No arbiter (the OS time-slices the device core among the session threads) against the arbiter,
 * interleaved over repetitions. Share = each session thread's CPU time over a window in which all are
 * backlogged.
 */
import { rmSync } from 'node:fs';
import { prepareNetworks } from './lib/onnx-networks.js';
import { startProgress } from './lib/progress.js';
import { benchMeta, pinForBackend, table, writeResults, type BenchOptions } from './lib/report.js';
import { paperModels, runPhase, sizedFor, type PhaseResult, type ServingModel } from './lib/serving.js';
import { jainIndex, median, normalise, round, spread, weightedMaxErrorPct } from './lib/stats.js';

interface Scenario {
  name: 'fairness' | 'weighted' | 'fairness-predicted';
  weights: number[];
  accounting?: 'predicted';
}

const scenarios: Record<Scenario['name'], Scenario> = {
  fairness: { name: 'fairness', weights: [1, 1, 1, 1, 1] },
  weighted: { name: 'weighted', weights: [1, 2, 3, 4, 5] },
  // Olympian's accounting: each session charges its profile's per-kernel costs (profiled at its start),
  // judged by measured thread CPU time.
  'fairness-predicted': { name: 'fairness-predicted', weights: [1, 1, 1, 1, 1], accounting: 'predicted' },
};

type Phase = 'baseline' | 'arbiter' | 'strict' | 'mixed';

/** The mixed row: these models served as ONNX (the same architecture and weights), the others on TF.js. */
const onnxInMixed = ['googlenet', 'resnet50'];

export async function runScenario(scenario: Scenario, options: BenchOptions) {
  const { quick, backend } = options;
  pinForBackend(backend, '0');
  const meta = await benchMeta(scenario.name, options);
  const reps = quick ? 1 : 3;
  const windowMs = quick ? 8000 : 20000;
  const warmupMs = quick ? 2000 : 4000;
  const models: ServingModel[] = sizedFor(paperModels, meta).map((m, i) => ({ ...m, weight: scenario.weights[i] }));
  const targets = normalise(scenario.weights);
  const policy = scenario.name === 'weighted' ? 'weighted' : 'fair';
  const fairness = scenario.name !== 'weighted';
  // On webgpu both gate modes are measured: `arbiter` is overlap (the default), `strict` waits for the GPU
  // before every handover. The phases rotate each repetition so a drift in machine speed favours none.
  const mixedRow = backend === 'wasm' && !scenario.accounting;
  const phases: Phase[] =
    backend === 'webgpu'
      ? ['baseline', 'arbiter', 'strict']
      : mixedRow
        ? ['baseline', 'arbiter', 'mixed']
        : ['baseline', 'arbiter'];
  const exported = mixedRow
    ? await prepareNetworks(
        models
          .filter((m) => onnxInMixed.includes(m.name))
          .map((m) => ({ name: m.name, zoo: m.zoo, inputSize: m.inputSize })),
      )
    : null;
  const mixedModels = models.map((m) => ({ ...m, onnx: exported?.networks.find((n) => n.name === m.name)?.onnx }));
  const runs: Array<Record<Phase, PhaseResult>> = [];
  const progress = startProgress(scenario.name, reps * phases.length);
  for (let rep = 0; rep < reps; rep++) {
    const order = phases.map((_, i) => phases[(i + rep) % phases.length]);
    const results: Partial<Record<Phase, PhaseResult>> = {};
    for (const phase of order) {
      progress.label(`rep ${rep + 1} ${phase}`);
      const result = await runPhase({
        models: phase === 'mixed' ? mixedModels : models,
        backend,
        deviceCpus: '1',
        arbiter: phase !== 'baseline',
        policy,
        quantumMs: 2,
        tokens: 1,
        warmupMs,
        windowMs,
        accounting: scenario.accounting,
        ...(phase === 'strict' ? { gateMode: 'strict' as const } : {}),
      });
      results[phase] = result;
      progress.tick();
      progress.log(
        `rep ${rep + 1} ${phase.padEnd(8)}: shares ${result.sessions.map((s) => `${s.name} ${(s.share * 100).toFixed(1)}%`).join(', ')}`,
      );
    }
    runs.push(results as Record<Phase, PhaseResult>);
  }
  progress.stop();
  if (exported) rmSync(exported.dir, { recursive: true, force: true });
  const score = (r: PhaseResult) =>
    fairness
      ? jainIndex(r.sessions.map((s) => s.share))
      : weightedMaxErrorPct(
          r.sessions.map((s) => s.share),
          targets,
        );
  const baselineScores = runs.map((r) => score(r.baseline));
  const arbiterScores = runs.map((r) => score(r.arbiter));
  const strictScores = phases.includes('strict') ? runs.map((r) => score(r.strict)) : null;
  const mixedScores = mixedRow ? runs.map((r) => score(r.mixed)) : null;
  const last = runs[runs.length - 1];
  const sessions = models.map((m, i) => ({
    name: m.name,
    inputSize: m.inputSize,
    weight: m.weight,
    target: round(targets[i], 4),
    shareBaseline: round(median(runs.map((r) => r.baseline.sessions[i].share)), 4),
    share: round(median(runs.map((r) => r.arbiter.sessions[i].share)), 4),
    chargedShare: round(median(runs.map((r) => r.arbiter.sessions[i].chargedShare)), 4),
    throughputPerSecBaseline: round(median(runs.map((r) => r.baseline.sessions[i].throughputPerSec)), 2),
    throughputPerSec: round(median(runs.map((r) => r.arbiter.sessions[i].throughputPerSec)), 2),
    p50Ms: round(median(runs.map((r) => r.arbiter.sessions[i].p50Ms)), 1),
    p99Ms: round(median(runs.map((r) => r.arbiter.sessions[i].p99Ms)), 1),
    p99MsBaseline: round(median(runs.map((r) => r.baseline.sessions[i].p99Ms)), 1),
    longestKernelMs: round(last.arbiter.sessions[i].longestKernelMs, 2),
    ...(mixedScores
      ? {
          engineMixed: onnxInMixed.includes(m.name) ? 'onnxruntime' : 'tfjs',
          shareMixed: round(median(runs.map((r) => r.mixed.sessions[i].share)), 4),
          throughputPerSecMixed: round(median(runs.map((r) => r.mixed.sessions[i].throughputPerSec)), 2),
          p99MsMixed: round(median(runs.map((r) => r.mixed.sessions[i].p99Ms)), 1),
          longestRunMsMixed: round(last.mixed.sessions[i].longestKernelMs, 2),
        }
      : {}),
    ...(strictScores
      ? {
          shareStrict: round(median(runs.map((r) => r.strict.sessions[i].share)), 4),
          throughputPerSecStrict: round(median(runs.map((r) => r.strict.sessions[i].throughputPerSec)), 2),
          p99MsStrict: round(median(runs.map((r) => r.strict.sessions[i].p99Ms)), 1),
        }
      : {}),
  }));
  const headline = fairness
    ? {
        jainIndexBaseline: round(median(baselineScores), 4),
        jainIndex: round(median(arbiterScores), 4),
        jainIndexSpread: spread(arbiterScores),
        ...(mixedScores ? { jainIndexMixed: round(median(mixedScores), 4) } : {}),
        ...(strictScores
          ? { jainIndexStrict: round(median(strictScores), 4), jainIndexStrictSpread: spread(strictScores) }
          : {}),
      }
    : {
        weightedMaxErrorPctBaseline: round(median(baselineScores), 2),
        weightedMaxErrorPct: round(median(arbiterScores), 2),
        weightedMaxErrorPctSpread: spread(arbiterScores),
        ...(mixedScores ? { weightedMaxErrorPctMixed: round(median(mixedScores), 2) } : {}),
        ...(strictScores
          ? {
              weightedMaxErrorPctStrict: round(median(strictScores), 2),
              weightedMaxErrorPctStrictSpread: spread(strictScores),
            }
          : {}),
      };
  const markdown = [
    backend === 'wasm'
      ? `Five zoo models on wasm, 2 closed-loop clients each; session threads pinned to one device core (main thread on another), K = 1, quantum 2 ms, ${windowMs / 1000} s windows, median of ${reps}.`
      : `Five zoo models on webgpu, 2 closed-loop clients each, K = 1, quantum 2 ms, ${windowMs / 1000} s windows, median of ${reps}.`,
    backend === 'wasm'
      ? 'Share = session thread CPU time over the window (all sessions backlogged). Baseline = no arbiter: the OS time-slices the threads.'
      : "Share = GPU time of each session's dispatches over the window, from timestamp queries (all sessions backlogged). Baseline = no arbiter: the driver interleaves the sessions' submissions.",
    '',
    table(Object.keys(headline), [
      Object.values(headline).map((v) => (typeof v === 'object' ? `${round(v.min, 4)} … ${round(v.max, 4)}` : v)),
    ]),
    '',
    strictScores
      ? table(
          [
            'model',
            'input',
            'target',
            'share baseline',
            'share overlap',
            'share strict',
            'charged share',
            'req/s baseline',
            'req/s overlap',
            'req/s strict',
            'p99 ms overlap',
            'p99 ms strict',
            'longest kernel ms',
          ],
          sessions.map((s) => [
            s.name,
            s.inputSize,
            s.target,
            s.shareBaseline,
            s.share,
            s.shareStrict ?? '—',
            s.chargedShare,
            s.throughputPerSecBaseline,
            s.throughputPerSec,
            s.throughputPerSecStrict ?? '—',
            s.p99Ms,
            s.p99MsStrict ?? '—',
            s.longestKernelMs,
          ]),
        )
      : table(
          [
            'model',
            'input',
            'target',
            'share baseline',
            'share',
            'charged share',
            'req/s baseline',
            'req/s',
            'p99 ms',
            'longest kernel ms',
          ],
          sessions.map((s) => [
            s.name,
            s.inputSize,
            s.target,
            s.shareBaseline,
            s.share,
            s.chargedShare,
            s.throughputPerSecBaseline,
            s.throughputPerSec,
            s.p99Ms,
            s.longestKernelMs,
          ]),
        ),
    '',
    ...(strictScores
      ? [
          "Gate modes (webgpu): the headline `jainIndex`/`weightedMaxErrorPct` is `overlap` (the token goes on right after submitting); `…Strict` waits for the GPU before every handover (charged share is overlap's).",
          '',
        ]
      : []),
    ...(mixedScores
      ? [
          `Mixed row: ${onnxInMixed.join(' and ')} served on onnxruntime (the same architectures and weights, written as ONNX; a run is charged as a whole, or per segment), the others on TF.js, under the same arbiter and policy: ${fairness ? 'jainIndexMixed' : 'weightedMaxErrorPctMixed'} = ${round(median(mixedScores), fairness ? 4 : 2)}.`,
          '',
          table(
            ['model', 'engine', 'target', 'share', 'req/s', 'p99 ms', 'longest run/segment ms'],
            sessions.map((s) => [
              s.name,
              s.engineMixed ?? '',
              s.target,
              s.shareMixed ?? '',
              s.throughputPerSecMixed ?? '',
              s.p99MsMixed ?? '',
              s.longestRunMsMixed ?? '',
            ]),
          ),
          '',
        ]
      : []),
    fairness ? 'Target: jainIndex ≥ 0.99.' : 'Target: weightedMaxErrorPct ≤ 3.',
    scenario.accounting
      ? 'Accounting: profile-predicted (each session profiled at batch 1 and 2 at its start); charged share = what the profile predicted.'
      : 'Accounting: measured device occupancy.',
  ].join('\n');
  console.log(
    `wrote ${writeResults(meta, { cores: 1, tokens: 1, quantumMs: 2, windowMs, repetitions: reps, ...headline, sessions }, markdown)}`,
  );
}

export const run = (options: BenchOptions) => runScenario(scenarios.fairness, options);
export const runWeighted = (options: BenchOptions) => runScenario(scenarios.weighted, options);
export const runPredicted = (options: BenchOptions) => runScenario(scenarios['fairness-predicted'], options);
