/**
 * A model session's worker thread (a piscina task handler). It loads its model once, puts the kernel gate in
 * front of the backend's kernels, warms up, and then serves inference tasks: every kernel of every inference
 * runs while this session holds a device token. It makes no policy decisions.
 */
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { move, transferableSymbol, valueSymbol } from 'piscina';
import { TokenClient, type TokenGrant } from '../arbiter/token-client.js';
import { ErrorCode, serializeError } from '../protocol/errors.js';
import type { BackendRequest, MemoryReport, ModelSource, SessionInfo, SessionReply, SessionTask } from '../protocol/session-messages.js';
import { arrayTypeOf, transferablesOf, type NamedTensors, type WireTensor } from '../protocol/tensors.js';
import { initBackend, readsAreCopies } from './backend.js';
import { KernelGate } from './gate.js';
import { installKernelGate } from './kernel-gate.js';
import type { LoadedModel } from '../models/index.js';
import { loadSessionModel } from './load-model.js';
import {
  claimRequest,
  kRequestStarted,
  kChargedMsField,
  kHeapUsedMbField,
  kInferencesField,
  kKernelsField,
  kLastInferenceMsField,
  kLiveTensorsField,
  kLongestKernelMsField,
} from './session-layout.js';

export interface SessionWorkerData {
  name: string;
  model: ModelSource;
  backend: BackendRequest;
  /** null: run ungated (no arbiter). */
  grant: TokenGrant | null;
  stats: SharedArrayBuffer;
  /** Int32Array(1): requests accepted and not yet started (session-layout.ts). */
  backlog: SharedArrayBuffer;
}

interface Runtime {
  info: SessionInfo;
  infer(inputs: NamedTensors): Promise<NamedTensors>;
  /** Gives the token back if it is still held (nothing more is queued). */
  release(): void;
}


const data = workerData as SessionWorkerData;
const stats = new Float64Array(data.stats);
let runtime: Promise<Runtime> | null = null;

/**
 * The main thread stages the next request here while one runs (piscina's concurrentTasksPerWorker: 2), so
 * back-to-back requests follow each other without waiting for a message round trip. Tasks run strictly one
 * at a time, in arrival order. While the backlog word says more requests are coming, the session keeps its
 * token (and its partial quantum) from one request to the next instead of putting itself behind everyone at
 * every request; if the next one does not start within kIdleHoldMs, the token goes back.
 */
let turn: Promise<unknown> = Promise.resolve();
const backlog = new Int32Array(data.backlog);
const kIdleHoldMs = 2;
let idleHold: NodeJS.Timeout | null = null;

async function start(): Promise<Runtime> {
  const backend = await initBackend(data.backend);
  const model = await loadSessionModel(data.model);
  // An ungated session (no arbiter) runs the backend's kernels untouched: it is the baseline gate costs are
  // measured against, so it does not count kernels either.
  const gate = data.grant ? new KernelGate(new TokenClient(data.grant)) : null;
  if (gate) {
    installKernelGate(backend.name, (_name, costMs) => {
      stats[kKernelsField]++;
      stats[kChargedMsField] += costMs;
      if (costMs > stats[kLongestKernelMsField]) stats[kLongestKernelMsField] = costMs;
      gate.charge(costMs);
    });
  }
  const copyOnRead = !readsAreCopies(backend.name);
  const infer = (inputs: NamedTensors) => runOnce(model, gate, inputs, copyOnRead);

  const warmupStart = performance.now();
  const kernelsBefore = stats[kKernelsField];
  await infer(zeroInputs(model));
  const info: SessionInfo = {
    backend,
    signature: model.signature,
    kernelsPerInference: stats[kKernelsField] - kernelsBefore,
    warmupMs: performance.now() - warmupStart,
    baselineTensors: tf.memory().numTensors,
    accounting: 'measured',
  };
  stats[kInferencesField] = 0;
  return { info, infer, release: () => gate?.end() };
}

async function runOnce(
  model: LoadedModel,
  gate: KernelGate | null,
  inputs: NamedTensors,
  copyOnRead: boolean,
): Promise<NamedTensors> {
  const started = performance.now();
  const tensors: Record<string, tf.Tensor> = {};
  let outputs: Record<string, tf.Tensor> = {};
  try {
    for (const [name, input] of Object.entries(inputs)) tensors[name] = tf.tensor(input.data, input.shape, tfDtypeOf(input.dtype));
    gate?.begin();
    try {
      outputs = await model.predict(tensors);
      const wire: NamedTensors = {};
      for (const spec of model.signature.outputs) wire[spec.name] = toWire(outputs[spec.name], copyOnRead);
      return wire;
    } finally {
      gate?.end(Atomics.load(backlog, 0) > 0);
    }
  } finally {
    tf.dispose(Object.values(outputs));
    tf.dispose(Object.values(tensors));
    stats[kInferencesField]++;
    stats[kLastInferenceMsField] = performance.now() - started;
    stats[kLiveTensorsField] = tf.memory().numTensors;
    stats[kHeapUsedMbField] = getHeapStatistics().used_heap_size / 2 ** 20;
  }
}

/** A full GC (V8's gc(), reached without --expose-gc on the command line) and what is left afterwards. */
function collect(): MemoryReport {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
  const report = { liveTensors: tf.memory().numTensors, heapUsedMb: getHeapStatistics().used_heap_size / 2 ** 20 };
  stats[kLiveTensorsField] = report.liveTensors;
  stats[kHeapUsedMbField] = report.heapUsedMb;
  return report;
}

/** TF.js computes in float32, int32 and bool: narrower integers widen to int32, float64 narrows. */
function tfDtypeOf(dtype: WireTensor['dtype']): tf.DataType {
  if (dtype === 'float32' || dtype === 'float64') return 'float32';
  return dtype === 'bool' ? 'bool' : 'int32';
}

function toWire(tensor: tf.Tensor, copyOnRead: boolean): WireTensor {
  const values = tensor.dataSync();
  // One copy out of the backend, then the buffer is transferred: cpu hands back its own storage, so copy it.
  const data = (copyOnRead ? values.slice() : values) as WireTensor['data'];
  return { dtype: tensor.dtype as WireTensor['dtype'], shape: tensor.shape.slice(), data };
}

/** Batch-1 zeros for every input: what warm-up runs. */
function zeroInputs(model: LoadedModel): NamedTensors {
  const inputs: NamedTensors = {};
  for (const spec of model.signature.inputs) {
    const shape = (spec.shape ?? [1]).map((d) => d ?? 1);
    const dtype = spec.dtype === 'int32' || spec.dtype === 'bool' ? spec.dtype : 'float32';
    inputs[spec.name] = { dtype, shape, data: new (arrayTypeOf(dtype))(shape.reduce((a, b) => a * b, 1)) };
  }
  return inputs;
}

/** Results carry their tensors' buffers as transferables, so outputs are moved, never copied, to the caller. */
function transferring(reply: SessionReply<NamedTensors>) {
  const buffers = reply.ok ? transferablesOf(reply.value) : [];
  return move({
    get [transferableSymbol]() {
      return buffers;
    },
    get [valueSymbol]() {
      return reply;
    },
  } as never);
}

export default async function handle(task: SessionTask): Promise<unknown> {
  const mine = turn.then(() => serve(task));
  turn = mine.catch(() => {});
  const reply = await mine;
  if (idleHold) clearTimeout(idleHold);
  idleHold = setTimeout(releaseIfIdle, kIdleHoldMs);
  if (Atomics.load(backlog, 0) === 0) releaseIfIdle();
  return reply;
}

function releaseIfIdle(): void {
  idleHold = null;
  void runtime?.then((session) => session.release(), () => {});
}

async function serve(task: SessionTask): Promise<unknown> {
  if (idleHold) clearTimeout(idleHold);
  idleHold = null;
  try {
    if (task.type === 'infer' && !claimRequest(new Int32Array(task.claim), backlog, kRequestStarted)) {
      return { ok: false, error: { code: ErrorCode.CANCELLED, message: 'cancelled before it ran' } } satisfies SessionReply<never>;
    }
    const session = await (runtime ??= start());
    if (task.type === 'warmup') return { ok: true, value: session.info } satisfies SessionReply<SessionInfo>;
    if (task.type === 'collect') return { ok: true, value: collect() } satisfies SessionReply<MemoryReport>;
    return transferring({ ok: true, value: await session.infer(task.inputs) });
  } catch (error) {
    return { ok: false, error: serializeError(error) } satisfies SessionReply<never>;
  }
}
