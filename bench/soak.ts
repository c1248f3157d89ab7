/**
 * soak: mixed load on four models for a long time (30 min; --quick 60 s), weights and priorities changed
 * every minute (quick: every 10 s), one session thread killed every five minutes (quick: every 20 s).
 * Checks that no request is lost or answered twice, that RSS and live tensors stay flat after warm-up
 * (slope reported), and how close shares stay to their targets between changes.
 */
import { SingleBar, Presets } from 'cli-progress';
import { createServer } from '../src/server/server.js';
import { benchMeta, table, writeResults } from './lib/report.js';
import { zeroRequest, sleep, type ServingModel } from './lib/serving.js';
import { median, normalise, round, weightedMaxErrorPct } from './lib/stats.js';

const models: ServingModel[] = [
  { name: 'mobilenet_v2', zoo: 'mobilenet_v2', inputSize: 64 },
  { name: 'googlenet', zoo: 'googlenet', inputSize: 64 },
  { name: 'resnet50', zoo: 'resnet50', inputSize: 64 },
  { name: 'alexnet', zoo: 'alexnet', inputSize: 63 },
];

/** Weight sets the soak cycles through (all in one priority class, so every share has a target). */
const weightSets = [
  [1, 1, 1, 1],
  [1, 2, 3, 4],
  [4, 3, 2, 1],
  [1, 1, 4, 4],
];

/** Least-squares slope of y over x. */
function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  const num = xs.reduce((sum, x, i) => sum + (x - mx) * (ys[i] - my), 0);
  const den = xs.reduce((sum, x) => sum + (x - mx) ** 2, 0);
  return den === 0 ? 0 : num / den;
}

export async function run({ quick }: { quick: boolean }) {
  const meta = benchMeta('soak', quick);
  const durationMs = quick ? 60_000 : 30 * 60_000;
  const changeEveryMs = quick ? 10_000 : 60_000;
  const killEveryMs = quick ? 20_000 : 5 * 60_000;
  const server = await createServer({
    backend: 'wasm',
    policy: 'weighted',
    quantumMs: 2,
    tokens: 1,
    sessions: models.map((m) => ({ name: m.name, model: { zoo: m.zoo, inputSize: m.inputSize, seed: 1 }, maxQueue: 64 })),
  });
  const answers = new Map<number, number>();
  const outcomes = new Map<string, number>();
  let issued = 0;
  let stop = false;
  const clients = models.flatMap((model) =>
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
  const intervals: Array<{ weights: number[]; errorPct: number; killed: boolean }> = [];
  const bar = new SingleBar({ format: ' soak [{bar}] {percentage}% | {elapsed}s | {requests} requests | rss {rss} MB', noTTYOutput: false }, Presets.shades_classic);
  bar.start(100, 0, { requests: 0, rss: 0 });
  const start = performance.now();
  let nextKill = killEveryMs;
  let killed = 0;
  let warmupDone = false;
  try {
    for (let change = 0; performance.now() - start < durationMs; change++) {
      const weights = weightSets[change % weightSets.length];
      models.forEach((m, i) => server.setWeight(m.name, weights[i]));
      const intervalStart = performance.now();
      let killedNow = false;
      await sleep(2000); // let the new weights settle before measuring
      const charged0 = server.stats().sessions.map((s) => s.chargedMs);
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
        bar.update(Math.min(100, Math.round((elapsed / durationMs) * 100)), { requests: issued, rss: Math.round(rssMb) });
      }
      warmupDone = true;
      const charged1 = server.stats().sessions.map((s) => s.chargedMs);
      // A session restarting (killed now or just before) cannot be backlogged: its interval says nothing.
      const restarting = server.stats().sessions.some((s) => s.state !== 'ready');
      killedNow ||= restarting || server.stats().sessions.reduce((sum, s) => sum + s.restarts, 0) !== restarts0;
      const shares = normalise(charged1.map((c, i) => c - charged0[i]));
      intervals.push({ weights, errorPct: weightedMaxErrorPct(shares, normalise(weights)), killed: killedNow });
    }
  } finally {
    bar.stop();
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
    rssSlopeMbPerMin: round(slope(minutes, samples.map((s) => s.rssMb)), 3),
    liveTensorsSlopePerMin: round(slope(minutes, samples.map((s) => s.liveTensors)), 3),
    rssMbFirst: round(samples[0]?.rssMb ?? 0, 1),
    rssMbLast: round(samples.at(-1)?.rssMb ?? 0, 1),
    liveTensorsAfterGc: collected.map((c) => c?.liveTensors ?? null),
    baselineTensors: final.sessions.map((s) => s.baselineTensors),
    weightedMaxErrorPctMedian: round(median(clean.map((i) => i.errorPct)), 2),
    weightedMaxErrorPctWorst: round(Math.max(...clean.map((i) => i.errorPct)), 2),
    intervals: intervals.map((i) => ({ weights: i.weights.join(':'), errorPct: round(i.errorPct, 2), killed: i.killed })),
  };
  const markdown = [
    `${models.map((m) => `${m.zoo}@${m.inputSize}`).join(', ')}, 2 closed-loop clients each, weighted, K = 1, ${durationMs / 60_000} min; weights changed every ${changeEveryMs / 1000} s, one session thread killed every ${killEveryMs / 1000} s.`,
    '',
    table(
      ['requests', 'lost', 'answered twice', 'threads killed', 'rss slope MB/min', 'live tensors slope /min', 'weighted error % (median, worst; intervals with no restart)'],
      [[issued, lost, twice, killed, result.rssSlopeMbPerMin, result.liveTensorsSlopePerMin, `${result.weightedMaxErrorPctMedian}, ${result.weightedMaxErrorPctWorst}`]],
    ),
    '',
    `Outcomes: ${JSON.stringify(result.outcomes)}. Shares are the arbiter's charged device time per interval.`,
  ].join('\n');
  console.log(`wrote ${writeResults(meta, result, markdown)}`);
  if (lost > 0 || twice > 0) process.exitCode = 1;
}
