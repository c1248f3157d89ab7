/**
 * The engines bench's helpers, and its segments part: an ONNX network whole, split at several targets and by
 * default — a run's time alone (requests in rotation), then its token holds (from the trace) and a small
 * model's p99 beside it at K = 1.
 */
import { holdIntervals } from '../../src/arbiter/trace.js';
import type { NamedTensors } from '../../src/protocol/tensors.js';
import { createServer, type Server } from '../../src/server/server.js';
import type { Network } from './onnx-networks.js';
import { median, percentile, round } from './stats.js';

export const request = (size: number): NamedTensors => ({
  input: {
    dtype: 'float32',
    shape: [1, size, size, 3],
    data: new Float32Array(size * size * 3).map((_, i) => Math.sin(i)),
  },
});

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function timed(server: Server, name: string, size: number): Promise<number> {
  const started = performance.now();
  await server.infer(name, request(size));
  return performance.now() - started;
}

/** The zoo network whole and split: a run's time alone, then its holds beside a small model at K = 1. */
export async function segments(big: Network, small: Network, quantumMs: number, pairs: number, windowMs: number) {
  // Alone: whole, the default, and targets from 8 ms down to the quantum and below, requests in rotation.
  const targets = [8, 4, quantumMs, quantumMs / 2];
  const variants: Array<{ name: string; segmentMs?: number }> = [
    { name: 'whole', segmentMs: 0 },
    { name: 'auto' },
    ...targets.map((ms) => ({ name: `split_${ms}`, segmentMs: ms })),
  ];
  const alone = await createServer({
    sessions: variants.map((v) => ({
      name: v.name,
      model: big.onnx,
      ...(v.segmentMs === undefined ? {} : { segmentMs: v.segmentMs }),
    })),
  });
  const times: Record<string, number[]> = Object.fromEntries(variants.map((v) => [v.name, []]));
  const segmentCounts: Record<string, number> = {};
  try {
    for (const v of variants) segmentCounts[v.name] = alone.sessionInfo(v.name).kernelsPerInference;
    for (let i = 0; i < 3; i++) for (const v of variants) await timed(alone, v.name, big.inputSize);
    for (let i = 0; i < pairs; i++)
      for (let k = 0; k < variants.length; k++) {
        const name = variants[(i + k) % variants.length].name;
        times[name].push(await timed(alone, name, big.inputSize));
      }
  } finally {
    await alone.close();
  }
  const wholeMsAlone = median(times.whole);
  const sweep = targets.map((ms) => {
    const name = `split_${ms}`;
    const runMs = median(times[name]);
    const cuts = segmentCounts[name] - 1;
    return {
      segmentMs: ms,
      segments: segmentCounts[name],
      runMs: round(runMs, 3),
      costPct: round(((runMs - wholeMsAlone) / wholeMsAlone) * 100, 2),
      msPerCut: cuts > 0 ? round((runMs - wholeMsAlone) / cuts, 3) : 0,
    };
  });
  const segmentsPerRun = segmentCounts[`split_${quantumMs}`];
  const autoSegments = segmentCounts.auto;
  const beside = async (segmentMs: number) => {
    const server = await createServer({
      tokens: 1,
      quantumMs,
      sessions: [
        { name: 'big', model: big.onnx, segmentMs },
        { name: 'small', model: small.onnx },
      ],
    });
    try {
      let stop = false;
      const smallMs: number[] = [];
      let counting = false;
      const loops = [
        (async () => {
          while (!stop) await server.infer('big', request(big.inputSize));
        })(),
        (async () => {
          while (!stop) {
            const ms = await timed(server, 'small', small.inputSize);
            if (counting) smallMs.push(ms);
          }
        })(),
      ];
      await sleep(1000);
      counting = true;
      server.setTracing(true);
      await sleep(windowMs);
      counting = false;
      const stats = server.stats().sessions;
      // Holds from the token trace: the maximum alone is one preemption away from anything on a shared VM.
      const holds = holdIntervals(server.readTrace().events)
        .filter((h) => h.session === 'big')
        .map((h) => h.endMs - h.startMs);
      stop = true;
      await Promise.all(loops);
      const row = (name: string) => stats.find((s) => s.name === name)!;
      return {
        holdP50Ms: percentile(holds, 50),
        holdP90Ms: percentile(holds, 90),
        intervalMaxMs: row('big').intervalMaxMs,
        longestSegmentMs: row('big').longestKernelMs,
        smallP99Ms: percentile(smallMs, 99),
      };
    } finally {
      await server.close();
    }
  };
  const whole = await beside(0);
  const split = await beside(quantumMs);
  const wholeMs = wholeMsAlone;
  const splitMs = median(times[`split_${quantumMs}`]);
  const autoMs = median(times.auto);
  return {
    network: big.name,
    quantumMs,
    segmentsPerRun,
    wholeRunMs: round(wholeMs, 3),
    splitRunMs: round(splitMs, 3),
    splitCostPct: round(((splitMs - wholeMs) / wholeMs) * 100, 2),
    autoSegments,
    autoRunMs: round(autoMs, 3),
    autoCostPct: round(((autoMs - wholeMs) / wholeMs) * 100, 2),
    sweep,
    msPerCutMedian: round(median(sweep.filter((r) => r.segments > 1).map((r) => r.msPerCut)), 3),
    intervalMsWhole: round(whole.holdP90Ms, 2),
    intervalMsSplit: round(split.holdP90Ms, 2),
    holdP50MsWhole: round(whole.holdP50Ms, 2),
    holdP50MsSplit: round(split.holdP50Ms, 2),
    holdMaxMsWhole: round(whole.intervalMaxMs, 2),
    holdMaxMsSplit: round(split.intervalMaxMs, 2),
    longestSegmentMs: round(split.longestSegmentMs, 2),
    smallP99MsWhole: round(whole.smallP99Ms, 2),
    smallP99MsSplit: round(split.smallP99Ms, 2),
  };
}
