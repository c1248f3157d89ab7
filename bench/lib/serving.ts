/**
 * The serving benches' common phase: start a server with zoo models (gated by the arbiter, or not at all for
 * the baseline), drive each with closed-loop clients, let them all become backlogged, then measure over one
 * window: each session's device time, throughput and latency. Device time is the session thread's CPU time on
 * wasm, and on webgpu the GPU time of its dispatches from timestamp queries (never the cost the arbiter
 * charges, which would be circular).
 */
import { createServer, type Server } from '../../src/server/server.js';
import { zooModels } from '../../src/models/index.js';
import type { PolicyName } from '../../src/arbiter/layout.js';
import type { NamedTensors } from '../../src/protocol/tensors.js';
import type { TraceRecord } from '../../src/arbiter/trace.js';
import type { GateMode } from '../../src/protocol/session-messages.js';
import type { BenchBackend, BenchMeta } from './report.js';
import { threadCpuMs } from './thread-cpu.js';
import { nowMs } from '../../src/arbiter/clock.js';
import { pinThreads } from './pin.js';
import { normalise, percentile } from './stats.js';

export interface ServingModel {
  name: string;
  zoo: string;
  inputSize: number;
  weight?: number;
  priority?: number;
  /** Session threads serving the model (default 1), on one account. */
  instances?: number;
  /** Closed-loop clients (default 2 per instance). 0 with `intervalMs`: an open-loop stream instead. */
  clients?: number;
  /** Open loop: one request every `intervalMs`, whatever the answers do. */
  intervalMs?: number;
  /** Serve this ONNX file (the same architecture written by onnx-export.ts) instead of the TF.js zoo model. */
  onnx?: string;
}

/** The source a session of `model` is given: its ONNX file, else the zoo model. */
export const modelSource = (model: ServingModel) =>
  model.onnx ?? { zoo: model.zoo, inputSize: model.inputSize, seed: 1 };

export interface PhaseOptions {
  models: ServingModel[];
  /** wasm (default) or webgpu. */
  backend?: BenchBackend;
  /** wasm: taskset list of the cores the session threads run on (the device); the main thread stays off them. */
  deviceCpus: string;
  /** false: the baseline, no arbiter at all. */
  arbiter: boolean;
  policy?: PolicyName;
  quantumMs?: number;
  tokens: number;
  warmupMs: number;
  windowMs: number;
  /** `predicted`: sessions charge a profile made at their start (autoProfile) instead of measured time. */
  accounting?: 'predicted' | 'measured';
  /** Record the token trace over the window. */
  trace?: boolean;
  /** webgpu: hand the token on after submitting (`overlap`, the default) or once the GPU is done (`strict`). */
  gateMode?: GateMode;
}

export interface SessionResult {
  name: string;
  /** Device time over the window: thread CPU time (wasm) or timestamped GPU time (webgpu), ms. */
  cpuMs: number;
  /** Device time over the window, normalised over the sessions. */
  share: number;
  /** The arbiter's charged share over the window (0 ungated). */
  chargedShare: number;
  throughputPerSec: number;
  p50Ms: number;
  p99Ms: number;
  longestKernelMs: number;
  requests: number;
  latenciesMs: number[];
}

export interface PhaseResult {
  sessions: SessionResult[];
  /** With `trace`: the token trace of the window and the window's bounds (all on the `nowMs()` clock). */
  trace?: { events: TraceRecord[]; dropped: number; startMs: number; endMs: number };
  handoffsPerSec: number;
  intervalMaxMs: number;
  /** Token time idle while work waited, over the window: a share of K × the window (0 ungated). */
  tokenIdleShare: number;
}

/** The five models of the paper at input sizes where one batch-1 inference takes 5–200 ms on wasm here. */
export const paperModels: ServingModel[] = [
  { name: 'alexnet', zoo: 'alexnet', inputSize: 127 },
  { name: 'vgg16', zoo: 'vgg16', inputSize: 64 },
  { name: 'googlenet', zoo: 'googlenet', inputSize: 96 },
  { name: 'inception_v3', zoo: 'inception_v3', inputSize: 107 },
  { name: 'resnet50', zoo: 'resnet50', inputSize: 96 },
];

/**
 * The models for the device at hand: on wasm as given (sizes where one inference takes 5–200 ms here); on a
 * hardware GPU at the paper's ImageNet sizes; on a software GPU (lavapipe, a functional check) at 64 px at
 * most, or the architecture's smallest (an inference there takes seconds) and without AlexNet, whose first dense weight (9216 × 4096, 144 MiB at any input size: it pools to 6 × 6)
 * is over lavapipe's 128 MiB storage-binding limit.
 */
const imagenetSizes: Record<string, number> = { alexnet: 227, inception_v3: 299 };
export function sizedFor(models: ServingModel[], meta: BenchMeta): ServingModel[] {
  if (meta.backend !== 'webgpu') return models;
  const smallest = (zoo: string) => zooModels.find((info) => info.name === zoo)?.minInputSize ?? 1;
  if (meta.adapter?.software)
    return models
      .filter((m) => m.zoo !== 'alexnet')
      .map((m) => ({ ...m, inputSize: Math.max(smallest(m.zoo), Math.min(m.inputSize, 64)) }));
  return models.map((m) => ({ ...m, inputSize: imagenetSizes[m.zoo] ?? 224 }));
}

export const zeroRequest = (server: Server, model: ServingModel): NamedTensors => {
  const name = server.signature(model.name).inputs[0].name;
  const size = model.inputSize;
  return { [name]: { dtype: 'float32', shape: [1, size, size, 3], data: new Float32Array(size * size * 3).fill(0.5) } };
};

export async function runPhase(options: PhaseOptions): Promise<PhaseResult> {
  const gpu = options.backend === 'webgpu';
  const server = await createServer({
    backend: options.backend ?? 'wasm',
    arbiter: options.arbiter,
    policy: options.policy ?? 'fair',
    quantumMs: options.quantumMs ?? 1,
    tokens: options.tokens,
    sessions: options.models.map((m) => ({
      name: m.name,
      model: modelSource(m),
      instances: m.instances,
      weight: m.weight,
      priority: m.priority,
      maxQueue: 256,
      accounting: options.accounting ?? 'measured',
      autoProfile: options.accounting === 'predicted',
      gpuTiming: gpu,
      ...(gpu && options.gateMode ? { gateMode: options.gateMode } : {}),
    })),
  });
  try {
    // A model's device time is its instances' together.
    const tids = options.models.map((m) =>
      Array.from({ length: m.instances ?? 1 }, (_, i) => server.sessionInfo(m.name, i).tid),
    );
    if (!gpu) pinThreads(tids.flat(), options.deviceCpus);
    const deviceMs = (): number[] => {
      if (!gpu) return tids.map((threads) => threads.reduce((sum, tid) => sum + threadCpuMs(tid), 0));
      const stats = server.stats();
      return options.models.map((m) => rowOf(stats, m.name).gpuMs);
    };
    const latencies = options.models.map(() => [] as number[]);
    let measuring = false;
    let stop = false;
    const record = (i: number, started: number) => {
      if (measuring) latencies[i].push(performance.now() - started);
    };
    const loops = options.models.flatMap((model, i) => {
      if (model.intervalMs)
        return [
          openLoop(
            server,
            model,
            () => stop,
            (t) => record(i, t),
          ),
        ];
      return Array.from({ length: model.clients ?? 2 * (model.instances ?? 1) }, async () => {
        while (!stop) {
          const started = performance.now();
          await server.infer(model.name, zeroRequest(server, model));
          record(i, started);
        }
      });
    });
    await sleep(options.warmupMs);
    const cpu0 = deviceMs();
    const stats0 = server.stats();
    if (options.trace) server.setTracing(true);
    const traceStart = nowMs();
    measuring = true;
    const startedAt = performance.now();
    await sleep(options.windowMs);
    measuring = false;
    const elapsedMs = performance.now() - startedAt;
    const cpu1 = deviceMs();
    const stats1 = server.stats();
    const trace = options.trace ? { ...server.readTrace(), startMs: traceStart, endMs: nowMs() } : undefined;
    stop = true;
    await Promise.all(loops);
    const cpuMs = cpu1.map((value, i) => value - cpu0[i]);
    const shares = normalise(cpuMs);
    const charged = options.models.map((m) => rowOf(stats1, m.name).chargedMs - rowOf(stats0, m.name).chargedMs);
    const chargedShares = options.arbiter ? normalise(charged) : charged.map(() => 0);
    return {
      trace,
      sessions: options.models.map((model, i) => ({
        name: model.name,
        cpuMs: cpuMs[i],
        share: shares[i],
        chargedShare: chargedShares[i],
        throughputPerSec: (latencies[i].length / elapsedMs) * 1000,
        p50Ms: percentile(latencies[i], 50),
        p99Ms: percentile(latencies[i], 99),
        longestKernelMs: rowOf(stats1, model.name).longestKernelMs,
        requests: latencies[i].length,
        latenciesMs: latencies[i],
      })),
      handoffsPerSec: ((stats1.handoffs - stats0.handoffs) / elapsedMs) * 1000,
      intervalMaxMs: Math.max(...stats1.sessions.map((s) => s.intervalMaxMs)),
      tokenIdleShare: options.arbiter ? (stats1.tokenIdleMs - stats0.tokenIdleMs) / (options.tokens * elapsedMs) : 0,
    };
  } finally {
    await server.close({ drain: false });
  }
}

function rowOf(stats: ReturnType<Server['stats']>, name: string) {
  return stats.sessions.find((s) => s.name === name)!;
}

async function openLoop(
  server: Server,
  model: ServingModel,
  stopped: () => boolean,
  record: (started: number) => void,
) {
  const inFlight: Promise<void>[] = [];
  while (!stopped()) {
    const started = performance.now();
    inFlight.push(
      server.infer(model.name, zeroRequest(server, model)).then(
        () => record(started),
        () => {},
      ),
    );
    await sleep(model.intervalMs!);
  }
  await Promise.all(inFlight);
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface FixedWorkOptions {
  models: ServingModel[];
  backend?: BenchBackend;
  deviceCpus: string;
  arbiter: boolean;
  quantumMs: number;
  tokens: number;
  /** Requests each model must complete (one closed-loop client per model). */
  requestsPerModel: number;
}

/** The same fixed work, gated or not: how long until every model is done, and how often the token moved. */
export async function runFixedWork(options: FixedWorkOptions): Promise<{
  makespanMs: number;
  handoffsPerSec: number;
  intervalMaxMs: number;
  longestKernelMs: Record<string, number>;
}> {
  const server = await createServer({
    backend: options.backend ?? 'wasm',
    arbiter: options.arbiter,
    policy: 'fair',
    quantumMs: options.quantumMs,
    tokens: options.tokens,
    sessions: options.models.map((m) => ({ name: m.name, model: modelSource(m) })),
  });
  try {
    if (options.backend !== 'webgpu')
      pinThreads(
        options.models.map((m) => server.sessionInfo(m.name).tid),
        options.deviceCpus,
      );
    for (const model of options.models) await server.infer(model.name, zeroRequest(server, model));
    const before = server.stats().handoffs;
    const start = performance.now();
    await Promise.all(
      options.models.map(async (model) => {
        for (let i = 0; i < options.requestsPerModel; i++) await server.infer(model.name, zeroRequest(server, model));
      }),
    );
    const makespanMs = performance.now() - start;
    const stats = server.stats();
    return {
      makespanMs,
      handoffsPerSec: ((stats.handoffs - before) / makespanMs) * 1000,
      intervalMaxMs: Math.max(...stats.sessions.map((s) => s.intervalMaxMs)),
      longestKernelMs: Object.fromEntries(stats.sessions.map((s) => [s.name, s.longestKernelMs])),
    };
  } finally {
    await server.close({ drain: false });
  }
}

/**
 * Each model's cost alone: the median latency of `requests` requests one after another on a server of its
 * own with no arbiter, after a warm-up. What completed work is counted in (see `completedWork`).
 */
export async function soloCostsMs(
  models: ServingModel[],
  backend: BenchBackend = 'wasm',
  requests = 15,
): Promise<Record<string, number>> {
  const costs: Record<string, number> = {};
  for (const model of models) {
    const server = await createServer({
      backend,
      arbiter: false,
      sessions: [{ name: model.name, model: modelSource(model) }],
    });
    try {
      for (let i = 0; i < 3; i++) await server.infer(model.name, zeroRequest(server, model));
      const times: number[] = [];
      for (let i = 0; i < requests; i++) {
        const started = performance.now();
        await server.infer(model.name, zeroRequest(server, model));
        times.push(performance.now() - started);
      }
      costs[model.name] = percentile(times, 50);
    } finally {
      await server.close();
    }
  }
  return costs;
}

/**
 * Completed work of a phase: Σ over models of requests completed × that model's solo cost, per second of
 * window (ms of solo work per s). A policy that moves time from a cheap model to a dear one is neither
 * rewarded nor punished, as requests/s would.
 */
export function completedWork(result: PhaseResult, soloMs: Record<string, number>, windowMs: number): number {
  return result.sessions.reduce((sum, s) => sum + s.requests * soloMs[s.name], 0) / (windowMs / 1000);
}
