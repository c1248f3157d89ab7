/**
 * soak: mixed load on four models for a long time (30 min; --quick 60 s) under the `priority` policy, weights
 * and priorities changed every minute (quick: every 10 s), one session thread killed every five minutes
 * (quick: every 20 s). Checks that no request is lost or answered twice, that RSS and live tensors stay flat
 * after warm-up (slope reported), and how close shares stay to their targets between changes: the top
 * priority class shares by weight, and a lower class gets (almost) nothing while the top one is backlogged.
 */
import { loadavg } from 'node:os';
import { createServer } from '../src/server/server.js';
import { threadCpuMs } from './lib/thread-cpu.js';
import { startProgress } from './lib/progress.js';
import { benchMeta, table, writeResults, type BenchOptions } from './lib/report.js';
import { sizedFor, zeroRequest, sleep, type ServingModel } from './lib/serving.js';
import { median, normalise, round, weightedMaxErrorPct } from './lib/stats.js';

const models: ServingModel[] = [
  { name: 'mobilenet_v2', zoo: 'mobilenet_v2', inputSize: 64 },
  { name: 'googlenet', zoo: 'googlenet', inputSize: 64 },
  { name: 'resnet50', zoo: 'resnet50', inputSize: 64 },
  { name: 'alexnet', zoo: 'alexnet', inputSize: 63 },
];

/** What the soak cycles through: weights, and priority classes (higher runs first). */
const schedules = [
  { weights: [1, 1, 1, 1], priorities: [0, 0, 0, 0] },
  { weights: [1, 2, 3, 4], priorities: [0, 0, 0, 0] },
  { weights: [4, 3, 2, 1], priorities: [1, 1, 0, 0] },
  { weights: [1, 1, 4, 4], priorities: [0, 1, 1, 0] },
];

/** Target shares: the top class splits the device by weight; lower classes get nothing. */
function targetsOf({ weights, priorities }: (typeof schedules)[number]): number[] {
  const top = Math.max(...priorities);
  const inTop = weights.map((w, i) => (priorities[i] === top ? w : 0));
  return normalise(inTop);
}

const safeCpuMs = (tid: number) => {
  try {
    return threadCpuMs(tid);
  } catch {
    return Number.NaN;
  }
};

/** Least-squares slope of y over x. */
function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  const num = xs.reduce((sum, x, i) => sum + (x - mx) * (ys[i] - my), 0);
  const den = xs.reduce((sum, x) => sum + (x - mx) ** 2, 0);
  return den === 0 ? 0 : num / den;
}

export async function run(options: BenchOptions) {
  const { quick, backend } = options;
  const meta = await benchMeta('soak', options);
  const durationMs = quick ? 60_000 : 30 * 60_000;
  const changeEveryMs = quick ? 10_000 : 60_000;
  const killEveryMs = quick ? 20_000 : 5 * 60_000;
  const sized = sizedFor(models, meta);
  const server = await createServer({
    backend,
    policy: 'priority',
    quantumMs: 2,
    tokens: 1,
    sessions: sized.map((m) => ({
      name: m.name,
      model: { zoo: m.zoo, inputSize: m.inputSize, seed: 1 },
      maxQueue: 64,
    })),
  });
  const answers = new Map<number, number>();
  const outcomes = new Map<string, number>();
  let issued = 0;
  let stop = false;
  const clients = sized.flatMap((model) =>
    [0, 1].map(async () => {
      while (!stop) {
        const id = issued++;
        answers.set(id, 0);
        const outcome = await server.infer(model.name, zeroRequest(server, model)).then(
          () => 'ok',
          (error: { code?: string }) => error.code ?? 'untyped',
        );
        answers.set(id, answers.get(id)! + 1);
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
        if (outcome !== 'ok') await sleep(20); // a restarting session refuses at once; do not spin on it
      }
    }),
  );
  const samples: Array<{ minute: number; rssMb: number; liveTensors: number }> = [];
  const intervals: Array<{
    weights: number[];
    priorities: number[];
    errorPct: number;
    chargedErrorPct: number;
    lowerClassShare: number;
    killed: boolean;
  }> = [];
  // Device time: session thread CPU time on wasm; on webgpu the charged cost (GPU timestamps per dispatch
  // would change how a long soak submits its work).
  const deviceMs = () => {
    if (backend !== 'wasm') return { tids: models.map(() => 0), ms: server.stats().sessions.map((s) => s.chargedMs) };
    const tids = models.map((m) => server.sessionInfo(m.name).tid);
    return { tids, ms: tids.map(safeCpuMs) };
  };
  const progress = startProgress('soak', Math.ceil(durationMs / changeEveryMs));
  // Another process busy on the same cores bends thread-CPU shares: the load average says how quiet it was.
  const loadAverageStart = loadavg()[0];
  const start = performance.now();
  let nextKill = killEveryMs;
  let killed = 0;
  let warmupDone = false;
  try {
    for (let change = 0; performance.now() - start < durationMs; change++) {
      const schedule = schedules[change % schedules.length];
      models.forEach((m, i) => {
        server.setWeight(m.name, schedule.weights[i]);
        server.setPriority(m.name, schedule.priorities[i]);
      });
      const intervalStart = performance.now();
      let killedNow = false;
      await sleep(2000); // let the new weights settle before measuring
      const charged0 = server.stats().sessions.map((s) => s.chargedMs);
      const device0 = deviceMs();
      const restarts0 = server.stats().sessions.reduce((sum, s) => sum + s.restarts, 0);
      while (performance.now() - intervalStart < changeEveryMs && performance.now() - start < durationMs) {
        await sleep(1000);
        const elapsed = performance.now() - start;
        if (elapsed >= nextKill) {
          const victim = models[killed++ % models.length].name;
          await server.killSessionThread(victim).catch(() => {});
          nextKill += killEveryMs;
          killedNow = true;
        }
        const rssMb = process.memoryUsage().rss / 2 ** 20;
        const liveTensors = server.stats().sessions.reduce((sum, s) => sum + s.liveTensors, 0);
        if (warmupDone) samples.push({ minute: elapsed / 60_000, rssMb, liveTensors });
        progress.label(`${issued} requests · rss ${Math.round(rssMb)} MB · ${killed} threads killed`);
      }
      warmupDone = true;
      const charged1 = server.stats().sessions.map((s) => s.chargedMs);
      const device1 = deviceMs();
      // A session restarting (killed now or just before) cannot be backlogged: its interval says nothing.
      const restarting = server.stats().sessions.some((s) => s.state !== 'ready');
      killedNow ||= restarting || server.stats().sessions.reduce((sum, s) => sum + s.restarts, 0) !== restarts0;
      const targets = targetsOf(schedule);
      const top = targets.map((t) => t > 0);
      const judge = (before: number[], after: number[]) => {
        const shares = normalise(after.map((value, i) => value - before[i]));
        return {
          errorPct: weightedMaxErrorPct(
            normalise(shares.filter((_, i) => top[i])),
            targets.filter((t) => t > 0),
          ),
          lowerClassShare: shares.filter((_, i) => !top[i]).reduce((a, b) => a + b, 0),
        };
      };
      const measured = judge(device0.ms, device1.ms);
      // A thread that died in between has no CPU time to compare: the interval counts as killed anyway.
      killedNow ||= device0.tids.some((tid, i) => tid !== device1.tids[i]);
      intervals.push({
        ...schedule,
        ...measured,
        chargedErrorPct: judge(charged0, charged1).errorPct,
        killed: killedNow,
      });
      progress.tick();
    }
  } finally {
    progress.stop();
    stop = true;
    await Promise.all(clients);
  }
  const collected = await Promise.all(models.map((m) => server.collect(m.name).catch(() => null)));
  const final = server.stats();
  await server.close();

  const counts = [...answers.values()];
  const lost = counts.filter((c) => c === 0).length;
  const twice = counts.filter((c) => c > 1).length;
  const minutes = samples.map((s) => s.minute);
  const clean = intervals.filter((i) => !i.killed);
  const result = {
    durationMs,
    changeEveryMs,
    killEveryMs,
    requests: issued,
    outcomes: Object.fromEntries(outcomes),
    lost,
    answeredTwice: twice,
    threadsKilled: killed,
    restarts: Object.fromEntries(final.sessions.map((s) => [s.name, s.restarts])),
    rssSlopeMbPerMin: round(
      slope(
        minutes,
        samples.map((s) => s.rssMb),
      ),
      3,
    ),
    liveTensorsSlopePerMin: round(
      slope(
        minutes,
        samples.map((s) => s.liveTensors),
      ),
      3,
    ),
    rssMbFirst: round(samples[0]?.rssMb ?? 0, 1),
    rssMbLast: round(samples.at(-1)?.rssMb ?? 0, 1),
    liveTensorsAfterGc: collected.map((c) => c?.liveTensors ?? null),
    baselineTensors: final.sessions.map((s) => s.baselineTensors),
    loadAverage1m: { start: round(loadAverageStart, 2), end: round(loadavg()[0], 2) },
    shareMeasure: backend === 'wasm' ? 'session thread CPU time' : 'charged cost',
    weightedMaxErrorPctMedian: round(median(clean.map((i) => i.errorPct)), 2),
    weightedMaxErrorPctWorst: round(Math.max(...clean.map((i) => i.errorPct)), 2),
    chargedErrorPctMedian: round(median(clean.map((i) => i.chargedErrorPct)), 2),
    lowerClassShareMax: round(Math.max(0, ...clean.map((i) => i.lowerClassShare)), 4),
    intervals: intervals.map((i) => ({
      weights: i.weights.join(':'),
      priorities: i.priorities.join(':'),
      errorPct: round(i.errorPct, 2),
      chargedErrorPct: round(i.chargedErrorPct, 2),
      lowerClassShare: round(i.lowerClassShare, 4),
      killed: i.killed,
    })),
  };
  const markdown = [
    `${sized.map((m) => `${m.zoo}@${m.inputSize}`).join(', ')} on ${backend}, 2 closed-loop clients each, policy priority, K = 1, ${durationMs / 60_000} min; weights and priorities changed every ${changeEveryMs / 1000} s (cycling through ${schedules.map((s) => `w ${s.weights.join(':')} p ${s.priorities.join(':')}`).join('; ')}), one session thread killed every ${killEveryMs / 1000} s.`,
    '',
    table(
      [
        'requests',
        'lost',
        'answered twice',
        'threads killed',
        'rss slope MB/min',
        'live tensors slope /min',
        'top-class weighted error % (median, worst)',
        'charged error % (median)',
        'lower class share (max)',
      ],
      [
        [
          issued,
          lost,
          twice,
          killed,
          result.rssSlopeMbPerMin,
          result.liveTensorsSlopePerMin,
          `${result.weightedMaxErrorPctMedian}, ${result.weightedMaxErrorPctWorst}`,
          result.chargedErrorPctMedian,
          result.lowerClassShareMax,
        ],
      ],
    ),
    '',
    `Shares per interval (2 s after each change, intervals with no restart only): ${result.shareMeasure}; the top priority class splits by weight, the lower class should get almost nothing. Outcomes: ${JSON.stringify(result.outcomes)}. Load average (1 min) ${result.loadAverage1m.start} at the start, ${result.loadAverage1m.end} at the end.`,
  ].join('\n');
  console.log(`wrote ${writeResults(meta, result, markdown)}`);
  if (lost > 0 || twice > 0) process.exitCode = 1;
}
