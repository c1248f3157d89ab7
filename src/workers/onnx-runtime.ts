/**
 * A session thread serving an ONNX model on onnxruntime-node, under the same arbiter as TF.js sessions.
 * A run cannot be paused, so the session takes its token before a run (or each segment of a split model)
 * and offers it after: its interleaving interval is max(quantum, one run or segment). `run()` works on this
 * very thread (src/onnx/ort.ts), so with one intra-op thread a token is a core, as for a wasm session, and
 * the run's wall time is its device occupancy. Measured accounting charges the thread's CPU time, as for a
 * wasm session (or, when more than one intra-op thread works for it, the run's time times the threads).
 * Set-up, step by step:
 *   1. the package and the providers asked for (BACKEND_UNAVAILABLE naming the one missing);
 *   2. the model file, then the session — under the token on a GPU provider, whose device nothing may touch
 *      outside it; a fixed batch axis with maxBatch > 1 is INVALID_CONFIG;
 *   3. a probe of every value's shape (memory estimate, cut costs), then warm-up runs;
 *   4. a model whose run is long is split at cut points and warmed again (onnx-split.ts says when);
 *   5. what each run is charged: measured (CPU) time, or the profile's a + b·batch shared out by segment.
 */
import { getHeapStatistics } from 'node:v8';
import type { KernelGate } from '../arbiter/kernel-gate.js';
import { TokenClient } from '../arbiter/token-client.js';
import { currentThreadId, type ThreadCpuClock } from '../arbiter/os-thread.js';
import { sessionGate } from './session-gate.js';
import { readOnnxFile } from '../onnx/model-file.js';
import { OnnxModel } from '../onnx/onnx-model.js';
import { checkProviders, isGpuProvider, loadOrt, ortVersion, type Ort } from '../onnx/ort.js';
import { graphFlow } from '../onnx/graph.js';
import { peakActivationBytes, probeModel, probeValues, type InputShape } from '../onnx/probe.js';
import { loadOnnxCosts, onnxFingerprint } from '../profiler/onnx-profile.js';
import { Errors } from '../protocol/errors.js';
import type { SessionInfo } from '../protocol/session-messages.js';
import { arrayTypeOf, elementCount, type NamedTensors, type WireDType } from '../protocol/tensors.js';
import { checkWarmupNames, fillWarmup, warmupFailed, warmupFill, warmupShape } from '../protocol/warmup-inputs.js';
import { runOnnxBatch, type SegmentCharge } from './onnx-batch.js';
import { splitForInterleaving } from './onnx-split.js';
import type { Runtime, SessionWorkerData } from './session-runtime.js';
import {
  kBatchesField,
  kBusyMsField,
  kChargedMsField,
  kHeapUsedMbField,
  kInferencesField,
  kKernelMsField,
  kKernelsField,
  kLongestKernelMsField,
} from './session-layout.js';

/** Runs measured at warm-up (after one dropped run): their median is a run's cost. */
const kWarmupRuns = 3;

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

/** Runs `work` holding the token (a GPU provider's device is touched only so), or as it is without an arbiter. */
async function underToken<T>(gate: KernelGate | null, work: () => Promise<T>): Promise<T> {
  if (!gate) return work();
  gate.begin();
  try {
    return await work();
  } finally {
    gate.end(false);
  }
}

/** A batch of warm-up inputs, in the model's dtypes (free dimensions as `InputShape` says). */
function zeroRequest(inputs: InputShape[], batch: number): NamedTensors {
  const request: NamedTensors = {};
  for (const input of inputs) {
    const shape = input.shape.map((d, i) => d ?? (i === 0 ? batch : 1));
    const dtype = input.dtype as WireDType;
    const data = fillWarmup(new (arrayTypeOf(dtype))(elementCount(shape)), dtype, input.fill ?? 0);
    request[input.name] = { dtype, shape, data };
  }
  return request;
}

export async function startOnnxRuntime(data: SessionWorkerData, stats: Float64Array): Promise<Runtime> {
  const warmupStart = performance.now();
  const providers = data.executionProviders ?? ['cpu'];
  const intraOpThreads = data.intraOpThreads ?? 1;
  const ort = await loadOrt();
  checkProviders(ort, providers);
  const file = await readOnnxFile(data.model as string);
  const client = data.grant ? new TokenClient(data.grant) : null;
  const onGpu = providers.some(isGpuProvider);
  // A CPU provider with one intra-op thread runs on this thread, so its CPU time is its use of the device, as
  // for a wasm session. Charged its runs' wall time beside wasm sessions charged CPU time, an ONNX GoogLeNet
  // got 3.1% more than its weight (its work between runs went uncharged); charged CPU time, 0.15% off.
  // A profile's costs are charged as they are.
  const gated = client
    ? sessionGate(client, stats, !onGpu && intraOpThreads === 1 && data.accounting !== 'predicted')
    : null;
  const gate = gated?.gate ?? null;
  const cpuClock = gated?.cpuClock ?? null;
  const guard = <T>(work: () => Promise<T>) => (onGpu ? underToken(gate, work) : work());
  try {
    const model = await guard(() => OnnxModel.load(ort, file, { providers, intraOpThreads }));
    try {
      return await prepare(data, stats, ort, model, gate, guard, { providers, intraOpThreads, warmupStart, cpuClock });
    } catch (error) {
      await guard(() => model.release());
      throw error;
    }
  } catch (error) {
    cpuClock?.close();
    throw error;
  }
}

interface Setup {
  providers: readonly string[];
  intraOpThreads: number;
  warmupStart: number;
  cpuClock: ThreadCpuClock | null;
}

async function prepare(
  data: SessionWorkerData,
  stats: Float64Array,
  ort: Ort,
  model: OnnxModel,
  gate: KernelGate | null,
  guard: <T>(work: () => Promise<T>) => Promise<T>,
  setup: Setup,
): Promise<Runtime> {
  checkWarmupNames(model.signature.inputs, data.warmupInputs);
  // Free dimensions besides a free batch axis take warmupInputs' sizes; a free axis 0 stays free, so the
  // probes and warm-up can set the batch.
  const inputs: InputShape[] = model.signature.inputs.map((s) => {
    const shape = s.shape ?? [];
    const example = warmupShape({ name: s.name, shape }, data.warmupInputs, 1);
    const fill = warmupFill(s, data.warmupInputs);
    return { name: s.name, dtype: s.dtype!, shape: shape.map((d, i) => d ?? (i === 0 ? null : example[i])), fill };
  });
  const fixedBatch = model.signature.inputs.find((s) => typeof s.shape?.[0] === 'number');
  if ((data.maxBatch ?? 1) > 1 && fixedBatch) {
    throw Errors.invalidConfig(
      'maxBatch',
      `is ${data.maxBatch}, but the model's input ${fixedBatch.name} has a fixed batch dimension of ${fixedBatch.shape![0]}: leave maxBatch at 1, or export the model with a free batch axis`,
    );
  }
  const onnx = model.file;
  const freeBatch = inputs.length > 0 && inputs.every((input) => input.shape[0] === null);
  const flow = graphFlow(onnx.model.graph);
  const probe = (batch: number) =>
    flow ? underToken(gate, () => probeValues(ort, probeModel(onnx.model, flow), onnx.dir, inputs, batch)) : null;
  const one = await probe(1);
  const two = freeBatch && one ? await probe(2) : null;

  const measured: SegmentCharge = (_segment, _batch, ms) => ms * setup.intraOpThreads;
  const context = { ort, model, gate, charge: measured, stats };
  /** Warm-up runs of batch-1 zeros (the first one dropped): each one's time per segment. */
  const warm = async () => {
    const runs: number[][] = [];
    const request = zeroRequest(inputs, 1);
    for (let run = 0; run <= kWarmupRuns; run++) {
      const times: number[] = [];
      const timing: SegmentCharge = (segment, batch, ms) => {
        times.push(ms);
        return measured(segment, batch, ms);
      };
      await runOnnxBatch({ ...context, charge: timing }, [request], () => false);
      if (run > 0) runs.push(times);
    }
    return runs;
  };
  const fed = Object.fromEntries(inputs.map((input) => [input.name, input.shape.map((d) => d ?? 1)]));
  const firstRuns = await warm().catch((error: unknown) => {
    throw warmupFailed(error, data.model as string, fed);
  });
  const split = await splitForInterleaving({ model, flow, one, two, warm, guard }, data.segmentMs, firstRuns);
  const runs = split.runs;
  const segmentMs = runs[0].map((_, i) => median(runs.map((times) => times[i])));
  const shares = segmentMs.map((ms) => ms / segmentMs.reduce((a, b) => a + b, 0));
  const fingerprint = onnxFingerprint(ortVersion(ort), setup.providers, setup.intraOpThreads);
  const profiled =
    gate && data.accounting === 'predicted'
      ? loadOnnxCosts(data.profile ?? 'profiles', data.model as string, fingerprint)
      : null;
  const fit = profiled?.fit;
  // A fit with a negative intercept (noise at small batches) never charges less than nothing.
  if (fit) context.charge = (segment, batch) => Math.max(0, fit.aMs + fit.bMs * batch) * shares[segment];

  for (const field of [
    kInferencesField,
    kBatchesField,
    kChargedMsField,
    kLongestKernelMsField,
    kKernelsField,
    kBusyMsField,
    kKernelMsField,
  ])
    stats[field] = 0;
  const info: SessionInfo = {
    tid: currentThreadId(),
    backend: {
      name: 'onnxruntime',
      flags: {
        onnxruntime: ortVersion(ort),
        providers: setup.providers.join(','),
        intraOpThreads: setup.intraOpThreads,
        segments: model.segmentCount,
        fingerprint: fingerprint.id,
      },
    },
    signature: model.signature,
    kernelsPerInference: model.segmentCount,
    warmupMs: performance.now() - setup.warmupStart,
    baselineTensors: 0,
    accounting: fit ? 'predicted' : 'measured',
    accountingNote: fit
      ? `the profile's whole-run cost a + b·batch (${profiled.path}), shared out by each segment's warm-up time`
      : `${profiled?.warning ? `${profiled.warning}; ` : ''}run time on this thread${setup.intraOpThreads > 1 ? ` × ${setup.intraOpThreads} intra-op threads` : ''} (onnxruntime runs synchronously here), per segment: ${segmentMs.map((ms) => ms.toFixed(2)).join(' + ')} ms at batch 1; ${split.note}`,
    gateMode: 'overlap',
    weightsMb: onnx.weightBytes / 2 ** 20,
    activationsMbPerItem: (one && flow ? peakActivationBytes(flow, one) : 0) / 2 ** 20,
    runCostLine: fit ? { fixedMs: Math.max(0, fit.aMs), perItemMs: Math.max(0, fit.bMs) } : null,
  };
  return {
    info,
    runBatch: (requests, keepToken) => runOnnxBatch(context, requests, keepToken),
    release: (stillBacklogged) => gate?.handBack(stillBacklogged),
    collect: () => {
      const report = { liveTensors: 0, heapUsedMb: getHeapStatistics().used_heap_size / 2 ** 20 };
      stats[kHeapUsedMbField] = report.heapUsedMb;
      return report;
    },
    dispose: async () => {
      await guard(() => model.release());
      setup.cpuClock?.close();
    },
  };
}
