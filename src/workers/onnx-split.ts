/**
 * Whether, and how finely, a session splits its ONNX model into segments (src/onnx/segments.ts). A cut
 * costs a run of its own (onnxruntime's fixed cost per run) and a copy of what it carries; measured on
 * resnet50 (BENCHMARKS.md, "A second engine"): 0.1–0.3 ms a cut at 64 px, 0.25–0.5 ms at 128 px, so
 * 2 ms segments cost 5–25% of a run and 10 ms ones 1–5%, while a whole run at 224 px holds the token for
 * 100 ms and more. Hence:
 *   1. `segmentMs` given: split into segments of about that long (0: never);
 *   2. by default, try 10, then 20, then 40 ms segments, keeping the first whose run (the best of the
 *      warm-up runs) costs at most 3% more than the whole run's; a run shorter than the target stays whole.
 */
import type { GraphFlow } from '../onnx/graph.js';
import type { OnnxModel } from '../onnx/onnx-model.js';
import type { ValueShapes } from '../onnx/probe.js';
import { buildSegments, chooseCuts, nodeCosts } from '../onnx/segments.js';

/** Targets tried by default, ms, in order; and the cost a split may add to a run, in percent. */
export const kAutoSegmentMs = [10, 20, 40];
export const kSplitBudgetPct = 3;

export interface SplitContext {
  model: OnnxModel;
  flow: GraphFlow | null;
  /** The probe's shapes at batch 1 and 2 (null where it could not run, or the batch is fixed). */
  one: ValueShapes | null;
  two: ValueShapes | null;
  /** Warm-up runs: each one's time per segment. */
  warm: () => Promise<number[][]>;
  /** Runs device work under the token where the provider needs it. */
  guard: <T>(work: () => Promise<T>) => Promise<T>;
}

const best = (runs: number[][]) => Math.min(...runs.map((times) => times.reduce((a, b) => a + b, 0)));

/** Splits (or not) as the rules say; returns the warm-up runs of what is kept and why it was kept. */
export async function splitForInterleaving(
  context: SplitContext,
  requestedMs: number | undefined,
  wholeRuns: number[][],
): Promise<{ runs: number[][]; note: string }> {
  const { model, flow, one, two, warm, guard } = context;
  const wholeMs = best(wholeRuns);
  const targets = requestedMs === undefined ? kAutoSegmentMs : requestedMs > 0 ? [requestedMs] : [];
  if (!flow || !one) return { runs: wholeRuns, note: 'whole: the graph could not be probed for cut points' };
  let tried = '';
  for (const target of targets) {
    if (wholeMs <= target) break;
    const cuts = chooseCuts(flow, one, nodeCosts(flow, model.file.model, one), Math.ceil(wholeMs / target));
    if (cuts.length === 0) return { runs: wholeRuns, note: 'whole: no cut point carries only probed tensors' };
    await guard(() => model.split(buildSegments(model.file.model, flow, cuts, one, two)));
    const runs = await warm();
    const costPct = ((best(runs) - wholeMs) / wholeMs) * 100;
    const note = `${cuts.length + 1} segments of ~${target} ms (a run ${costPct >= 0 ? '+' : ''}${costPct.toFixed(1)}% against whole)`;
    if (requestedMs !== undefined || costPct <= kSplitBudgetPct) return { runs, note };
    tried += `${tried ? ', ' : ''}${note}`;
  }
  if (model.segmentCount > 1) {
    await guard(() => model.join());
    return { runs: await warm(), note: `whole: every split cost more than ${kSplitBudgetPct}% (${tried})` };
  }
  return {
    runs: wholeRuns,
    note: requestedMs === 0 ? 'whole (segmentMs: 0)' : `whole: a run takes ${wholeMs.toFixed(1)} ms`,
  };
}
