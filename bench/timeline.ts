/**
 * timeline: which session held the device when, as in the paper's interleaving figure. The five paper models
 * under `fair`, K = 1, quantum 1 ms, closed-loop clients; the arbiter's grant/release trace over a window,
 * summarised (holds per session, hold lengths, gaps between holds) and drawn over 50 ms from its middle.
 * A kernel cannot be preempted, so a hold is max(quantum, the kernel running at the boundary): each model's
 * longest kernel is reported beside its hold lengths.
 */
import { holdIntervals, type HoldInterval } from '../src/arbiter/trace.js';
import { renderTimeline } from './charts.js';
import { startProgress } from './lib/progress.js';
import { benchMeta, pinForBackend, table, writeResults, type BenchOptions } from './lib/report.js';
import { paperModels, runPhase, sizedFor } from './lib/serving.js';
import { median, percentile, round } from './lib/stats.js';

const quantumMs = 1;
const chartSpanMs = 50;

export async function run(options: BenchOptions) {
  const { quick, backend } = options;
  pinForBackend(backend, '0');
  const meta = await benchMeta('timeline', options);
  const models = sizedFor(paperModels, meta);
  // A software GPU (lavapipe) takes seconds per inference: a longer window, for a functional check.
  const windowMs = (quick ? 1000 : 3000) * (meta.adapter?.software ? 5 : 1);
  const progress = startProgress('timeline', 1, 'serving the five models under fair');
  const result = await runPhase({
    models,
    backend,
    deviceCpus: '1',
    arbiter: true,
    policy: 'fair',
    quantumMs,
    tokens: 1,
    warmupMs: quick ? 2000 : 4000,
    windowMs,
    trace: true,
  });
  progress.tick();
  progress.stop();
  const trace = result.trace!;
  const holds = holdIntervals(trace.events, trace.endMs)
    .map((h) => ({ ...h, startMs: Math.max(h.startMs, trace.startMs), endMs: Math.min(h.endMs, trace.endMs) }))
    .filter((h) => h.endMs > h.startMs);
  const gapsMs = holds
    .slice(1)
    .map((h, i) => h.startMs - holds[i].endMs)
    .filter((gap) => gap >= 0);
  const spanMs = trace.endMs - trace.startMs;
  const sessions = models.map((model, i) => {
    const own = holds.filter((h) => h.session === model.name).map((h) => h.endMs - h.startMs);
    return {
      name: model.name,
      inputSize: model.inputSize,
      holds: own.length,
      heldPct: round((own.reduce((a, b) => a + b, 0) / spanMs) * 100, 2),
      holdMedianMs: round(median(own), 3),
      holdP99Ms: round(percentile(own, 99), 3),
      longestKernelMs: round(result.sessions[i].longestKernelMs, 3),
      share: round(result.sessions[i].share, 4),
    };
  });
  const chartStart = trace.startMs + Math.max(0, (spanMs - chartSpanMs) / 2);
  const relative = (h: HoldInterval) => ({
    session: h.session,
    startMs: round(h.startMs - chartStart, 4),
    endMs: round(h.endMs - chartStart, 4),
  });
  const chart = {
    spanMs: chartSpanMs,
    holds: holds.filter((h) => h.endMs > chartStart && h.startMs < chartStart + chartSpanMs).map(relative),
  };
  const summary = {
    quantumMs,
    windowMs: round(spanMs, 1),
    events: trace.events.length,
    droppedEvents: trace.dropped,
    handoffsPerSec: round(result.handoffsPerSec, 1),
    holdMedianMs: round(median(holds.map((h) => h.endMs - h.startMs)), 3),
    gapMedianUs: round(median(gapsMs) * 1000, 1),
    gapP99Us: round(percentile(gapsMs, 99) * 1000, 1),
    idlePct: round((gapsMs.reduce((a, b) => a + b, 0) / spanMs) * 100, 2),
  };
  const markdown = [
    `${models.map((m) => `${m.zoo}@${m.inputSize}`).join(', ')}, 2 closed-loop clients each, fair, K = 1, quantum ${quantumMs} ms, on ${backend}; the arbiter's token trace over ${summary.windowMs} ms (${summary.events} events).`,
    "A hold runs from the grant to the release (the grantee's wake-up is inside it). A handoff releases and grants under one lock at one clock reading, so a gap is time the token lay free (nobody backlogged), not handoff latency (see the handoff scenario).",
    '',
    table(Object.keys(summary), [Object.values(summary)]),
    '',
    table(
      ['model', 'input', 'holds', 'held %', 'hold median ms', 'hold p99 ms', 'longest kernel ms', 'device share'],
      sessions.map((s) => [
        s.name,
        s.inputSize,
        s.holds,
        s.heldPct,
        s.holdMedianMs,
        s.holdP99Ms,
        s.longestKernelMs,
        s.share,
      ]),
    ),
    '',
    `Chart: timeline.svg, ${chartSpanMs} ms from the middle of the window.`,
  ].join('\n');
  console.log(`wrote ${writeResults(meta, { ...summary, sessions, chart }, markdown)}`);
  renderTimeline(meta);
}
