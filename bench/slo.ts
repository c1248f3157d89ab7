/**
 * slo: answers within their SLO under overload. Three zoo models share one device core (K = 1; the main thread
 * dispatches from the other core), each with an SLO of kSloTimesP99 × its solo p99 measured in this run.
 * Open-loop Poisson arrivals at 0.8×, 1.2× and 1.5× of the capacity measured here (what the server completes of
 * each model with all three backlogged under `fair`: a third of the device each), the same seeded arrivals for every policy at a load: no
 * arbiter and `fair` as they are (a request runs if it starts before its deadline), and `deadline` with its
 * defaults (least laxity within 64 quanta of weighted fair queuing, predicted admission). Every request carries
 * its model's SLO as its deadline. Per (load, policy): goodput (answers within SLO per second of arrivals),
 * attainment (of all requests, and of those admitted), the fraction shed, each model's attainment and share
 * of the device (thread CPU time).
 */
import { createServer, type Server } from '../src/server/server.js';
import type { PolicyName } from '../src/arbiter/layout.js';
import { renderSlo } from './charts.js';
import { referenceEdfAttainment } from './lib/edf-reference.js';
import { poissonArrivals, runCell, saturatedThroughput, type CellResult } from './lib/open-loop.js';
import { pinThreads } from './lib/pin.js';
import { startProgress } from './lib/progress.js';
import { threadCpuMs } from './lib/thread-cpu.js';
import { benchMeta, pinForBackend, table, writeResults, type BenchOptions } from './lib/report.js';
import { zeroRequest, type ServingModel } from './lib/serving.js';
import { percentile, round } from './lib/stats.js';

const models: ServingModel[] = [
  { name: 'mobilenet_v2', zoo: 'mobilenet_v2', inputSize: 64 },
  { name: 'googlenet', zoo: 'googlenet', inputSize: 96 },
  { name: 'resnet50', zoo: 'resnet50', inputSize: 96 },
];
const loads = [0.8, 1.2, 1.5];
/** The SLO as a multiple of the model's solo p99. */
const kSloTimesP99 = 5;
/** Deep enough that the queue bound never acts as admission control: only deadlines do. */
const kMaxQueue = 4096;

interface PolicyRun {
  label: string;
  arbiter: boolean;
  policy: PolicyName;
}
const policies: PolicyRun[] = [
  { label: 'no arbiter', arbiter: false, policy: 'fair' },
  { label: 'fair', arbiter: true, policy: 'fair' },
  { label: 'deadline', arbiter: true, policy: 'deadline' },
];

function startServer(run: PolicyRun): Promise<Server> {
  return createServer({
    backend: 'wasm',
    arbiter: run.arbiter,
    policy: run.policy,
    quantumMs: 1,
    tokens: 1,
    sessions: models.map((m) => ({
      name: m.name,
      model: { zoo: m.zoo, inputSize: m.inputSize, seed: 1 },
      maxQueue: kMaxQueue,
    })),
  });
}

/**
 * Each model alone, one request at a time: its latency p99 (for the SLO) and its device time per request,
 * the session thread's CPU time (reported beside the measured capacity: the mix costs more than its parts).
 */
async function solo(server: Server, requests: number) {
  const rows = [];
  for (const model of models) {
    const input = zeroRequest(server, model);
    for (let i = 0; i < 5; i++) await server.infer(model.name, input);
    const tid = server.sessionInfo(model.name).tid;
    const cpu0 = threadCpuMs(tid);
    const ms: number[] = [];
    for (let i = 0; i < requests; i++) {
      const started = performance.now();
      await server.infer(model.name, input);
      ms.push(performance.now() - started);
    }
    const deviceMs = (threadCpuMs(tid) - cpu0) / requests;
    rows.push({
      model: model.name,
      deviceMs,
      meanMs: ms.reduce((a, b) => a + b, 0) / requests,
      p99Ms: percentile(ms, 99),
    });
  }
  return rows;
}

function summarise(load: number, policy: string, cell: CellResult) {
  const sum = (key: 'requests' | 'within' | 'shed' | 'deviceMs') => cell.models.reduce((t, m) => t + m[key], 0);
  const [requests, within, shed, deviceMs] = [sum('requests'), sum('within'), sum('shed'), sum('deviceMs')];
  return {
    load,
    policy,
    requests,
    spanS: round(cell.spanMs / 1000, 2),
    goodputPerS: round(within / (cell.spanMs / 1000), 2),
    attainment: round(within / requests, 4),
    attainmentAdmitted: round(within / Math.max(1, requests - shed), 4),
    shedFraction: round(shed / requests, 4),
    models: cell.models.map((m, i) => ({
      model: models[i].name,
      ...m,
      deviceMs: round(m.deviceMs, 1),
      attainment: round(m.within / Math.max(1, m.requests), 4),
      share: round(m.deviceMs / Math.max(1e-9, deviceMs), 3),
    })),
  };
}

export async function run(options: BenchOptions) {
  if (options.backend !== 'wasm') throw new Error('slo runs on wasm (the CPU core is the device)');
  pinForBackend(options.backend, '0-1');
  const meta = await benchMeta('slo', options);
  const perCell = options.quick ? 300 : 2000;
  const progress = startProgress('slo', 2 + loads.length * policies.length);
  progress.label('starting servers');
  const servers: Server[] = [];
  try {
    for (const run of policies) servers.push(await startServer(run));
    // The session threads share one core (the device); the main thread dispatches from the other.
    pinThreads(
      servers.flatMap((s) => models.map((m) => s.sessionInfo(m.name).tid)),
      '1',
    );
    progress.label('solo');
    const soloRows = (await solo(servers[0], options.quick ? 40 : 200)).map((row) => ({
      ...row,
      deviceMs: round(row.deviceMs, 3),
      meanMs: round(row.meanMs, 3),
      p99Ms: round(row.p99Ms, 3),
      sloMs: round(kSloTimesP99 * row.p99Ms, 1),
    }));
    progress.tick();
    const sloMs = soloRows.map((row) => row.sloMs);
    // Capacity: what the arbitrated server completes of each model with all three backlogged under `fair`
    // (each gets a third of the device). Load L offers L × that rate of each model.
    progress.label('capacity');
    const saturated = await saturatedThroughput(
      servers[1],
      models.map((m) => m.name),
      models.map((m) => zeroRequest(servers[1], m)),
      options.quick ? 2000 : 3000,
      options.quick ? 5000 : 15000,
    );
    progress.tick();
    const capacityPerS = saturated.reduce((sum, perMs) => sum + 1000 * perMs, 0);
    // What solo CPU time per request would have called capacity (each model asking for a third of it).
    const cpuCapacityPerS = soloRows.reduce((sum, row) => sum + 1000 / (3 * row.deviceMs), 0);
    const cells: ReturnType<typeof summarise>[] = [];
    // Under `fair` at saturation each model has a third of the device: its in-mix service time is a third
    // of a second over what it completes per second.
    const serviceMs = saturated.map((perMs) => 1 / (3 * perMs));
    const references: { load: number; attainment: number; models: number[] }[] = [];
    for (const load of loads) {
      const rates = saturated.map((perMs) => load * perMs);
      const arrivals = poissonArrivals(rates, perCell, Math.round(load * 1000));
      const reference = referenceEdfAttainment(arrivals, serviceMs, sloMs);
      const counts = models.map((_, i) => arrivals.filter((a) => a.model === i).length);
      references.push({
        load,
        attainment: round(reference.reduce((sum, a, i) => sum + a * counts[i], 0) / arrivals.length, 4),
        models: reference.map((a) => round(a, 4)),
      });
      for (const [p, run] of policies.entries()) {
        progress.label(`${load}× ${run.label}`);
        const inputs = models.map((m) => zeroRequest(servers[p], m));
        const cell = summarise(
          load,
          run.label,
          await runCell(
            servers[p],
            models.map((m) => m.name),
            inputs,
            sloMs,
            arrivals,
          ),
        );
        cells.push(cell);
        progress.tick();
        progress.log(
          `${load}× ${run.label}: goodput ${cell.goodputPerS}/s, attainment ${cell.attainment}, admitted ${cell.attainmentAdmitted}, shed ${cell.shedFraction}`,
        );
      }
    }
    progress.stop();
    const cellOf = (load: number, policy: string) => cells.find((c) => c.load === load && c.policy === policy)!;
    const at80 = cellOf(0.8, 'deadline');
    const summary = {
      goodputRatioAt150: round(cellOf(1.5, 'deadline').goodputPerS / cellOf(1.5, 'fair').goodputPerS, 3),
      attainmentAdmittedAt150: cellOf(1.5, 'deadline').attainmentAdmitted,
      attainmentAt80: at80.attainment,
      minModelAttainmentAt80: Math.min(...at80.models.map((m) => m.attainment)),
      capacityPerS: round(capacityPerS, 2),
      cpuCapacityPerS: round(cpuCapacityPerS, 2),
      referenceEdfAttainmentAt80: references[0].attainment,
    };
    const markdown = [
      `Three zoo models on one device core (K = 1, quantum 1 ms, wasm), SLO = ${kSloTimesP99} × solo p99; open-loop Poisson arrivals, ${perCell} requests per cell. Capacity ${summary.capacityPerS} requests/s: what the server completed of each model with all three backlogged under \`fair\` (a third of the device each), measured before the cells (each model's median over three back-to-back windows); load L offers L × each model's rate (solo CPU time per request would have put it at ${summary.cpuCapacityPerS}/s). Every request carries its SLO as its deadline; maxQueue ${kMaxQueue}.`,
      '',
      table(
        ['model', 'solo meanMs', 'solo p99Ms', 'sloMs'],
        soloRows.map((r) => [r.model, r.meanMs, r.p99Ms, r.sloMs]),
      ),
      '',
      table(
        [
          'load',
          'policy',
          'goodput/s',
          'attainment',
          'attainment of admitted',
          'shed',
          ...models.map((m) => `${m.name} attainment / share`),
        ],
        cells.map((c) => [
          `${c.load}×`,
          c.policy,
          c.goodputPerS,
          c.attainment,
          c.attainmentAdmitted,
          c.shedFraction,
          ...c.models.map((m) => `${m.attainment} / ${m.share}`),
        ]),
      ),
      '',
      "A yardstick, not a bound: EDF on the same arrivals on an ideal device (preemptive, no overhead, each request its model's in-mix service time, nothing refused on arrival, a request dropped once it cannot finish in time: `bench/lib/edf-reference.ts`):",
      '',
      table(
        ['load', 'reference EDF attainment', ...models.map((m) => `${m.name}`)],
        references.map((b) => [`${b.load}×`, b.attainment, ...b.models]),
      ),
      '',
      `Summary: goodputRatioAt150 ${summary.goodputRatioAt150} (deadline over fair at 1.5×), attainmentAdmittedAt150 ${summary.attainmentAdmittedAt150}, attainmentAt80 ${summary.attainmentAt80} (lowest model ${summary.minModelAttainmentAt80}).`,
    ].join('\n');
    const results = { summary, sloTimesP99: kSloTimesP99, solo: soloRows, serviceMs, referenceEdf: references, cells };
    console.log(`wrote ${writeResults(meta, results, markdown)}`);
    renderSlo(options);
  } finally {
    progress.stop();
    await Promise.all(servers.map((server) => server.close({ drain: false })));
  }
}
