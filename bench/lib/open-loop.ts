/**
 * Open-loop Poisson arrivals for the slo bench: a seeded schedule (the same for every policy at a load), fired
 * at their times whatever the answers do, each request carrying its model's SLO as its deadline. A request is
 * within its SLO when it is answered (not refused, not dropped) no later than the SLO after it was sent.
 */
import type { Server } from '../../src/server/server.js';
import type { NamedTensors } from '../../src/protocol/tensors.js';
import { threadCpuMs } from './thread-cpu.js';

export interface Arrival {
  model: number;
  /** ms from the start of the cell. */
  atMs: number;
}

/** mulberry32: a small seeded generator, so every policy sees the same arrivals. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** `count` arrivals merged from independent Poisson streams at `ratesPerMs[i]` each. */
export function poissonArrivals(ratesPerMs: number[], count: number, seed: number): Arrival[] {
  const next = random(seed);
  const total = ratesPerMs.reduce((a, b) => a + b, 0);
  const arrivals: Arrival[] = [];
  let atMs = 0;
  // A merged Poisson process: exponential gaps at the total rate, each arrival a model drawn by its rate.
  for (let i = 0; i < count; i++) {
    atMs += -Math.log(1 - next()) / total;
    let pick = next() * total;
    let model = 0;
    while (model < ratesPerMs.length - 1 && pick >= ratesPerMs[model]) pick -= ratesPerMs[model++];
    arrivals.push({ model, atMs });
  }
  return arrivals;
}

export type Outcome = 'within' | 'late' | 'shed' | 'dropped' | 'failed';

export interface CellModelResult {
  requests: number;
  within: number;
  late: number;
  shed: number;
  dropped: number;
  failed: number;
  /** Device time of its session thread over the cell (thread CPU time), ms. */
  deviceMs: number;
}

export interface CellResult {
  spanMs: number;
  models: CellModelResult[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Fires `arrivals` at `server`'s models (`names[i]`, `inputs[i]`, SLO `sloMs[i]`) and waits for every answer. */
export async function runCell(
  server: Server,
  names: string[],
  inputs: NamedTensors[],
  sloMs: number[],
  arrivals: Arrival[],
): Promise<CellResult> {
  const tids = names.map((name) => server.sessionInfo(name).tid);
  const cpu0 = tids.map(threadCpuMs);
  const models: CellModelResult[] = names.map(() => ({
    requests: 0,
    within: 0,
    late: 0,
    shed: 0,
    dropped: 0,
    failed: 0,
    deviceMs: 0,
  }));
  const shedBefore = names.map((name) => rowOf(server, name).deadlines.shed);
  const answers: Promise<void>[] = [];
  const start = performance.now();
  for (const { model, atMs } of arrivals) {
    const waitMs = atMs - (performance.now() - start);
    if (waitMs > 1) await sleep(waitMs - 0.5);
    const sentAt = performance.now();
    models[model].requests++;
    answers.push(
      server.infer(names[model], inputs[model], { deadlineMs: sloMs[model] }).then(
        () => {
          const outcome: Outcome = performance.now() - sentAt <= sloMs[model] ? 'within' : 'late';
          models[model][outcome]++;
        },
        (error: { code?: string; message?: string }) => {
          if (error.code !== 'DEADLINE_EXCEEDED') models[model].failed++;
          else if (/refused: predicted/.test(error.message ?? '')) models[model].shed++;
          else models[model].dropped++;
        },
      ),
    );
  }
  const spanMs = performance.now() - start;
  await Promise.all(answers);
  tids.forEach((tid, i) => (models[i].deviceMs = threadCpuMs(tid) - cpu0[i]));
  // The server's own count of shed requests must agree with what the callers saw.
  names.forEach((name, i) => {
    const counted = rowOf(server, name).deadlines.shed - shedBefore[i];
    if (counted !== models[i].shed)
      throw new Error(`${name}: server counted ${counted} shed, callers saw ${models[i].shed}`);
  });
  return { spanMs, models };
}

const rowOf = (server: Server, name: string) => server.stats().sessions.find((row) => row.name === name)!;

/**
 * Requests per ms each model completes when all are backlogged (closed loop, `clientsPerModel` each): the
 * server's capacity for this mix, measured rather than derived — solo CPU time per request misses what the
 * mix itself costs (handoffs, caches shared at 1 ms quanta, the main thread's dispatch). Each model's median
 * over `windows` back-to-back windows: one window caught in a stall would move every cell's load with it.
 */
export async function saturatedThroughput(
  server: Server,
  names: string[],
  inputs: NamedTensors[],
  warmupMs: number,
  windowMs: number,
  windows = 3,
  clientsPerModel = 3,
): Promise<number[]> {
  let running = true;
  let done = names.map(() => 0);
  const clients = names.flatMap((name, i) =>
    Array.from({ length: clientsPerModel }, async () => {
      while (running) {
        await server.infer(name, inputs[i]);
        done[i]++;
      }
    }),
  );
  await sleep(warmupMs);
  const rates: number[][] = names.map(() => []);
  for (let w = 0; w < windows; w++) {
    done = names.map(() => 0);
    const start = performance.now();
    await sleep(windowMs / windows);
    const spanMs = performance.now() - start;
    done.forEach((count, i) => rates[i].push(count / spanMs));
  }
  running = false;
  await Promise.all(clients);
  return rates.map((perWindow) => perWindow.sort((a, b) => a - b)[Math.floor(perWindow.length / 2)]);
}
