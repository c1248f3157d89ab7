/**
 * A model session's worker thread (a piscina task handler). It loads its model once, puts the kernel gate in
 * front of the backend's kernels, warms up, and then serves inference tasks: every kernel of every inference
 * runs while this session holds a device token. It makes no policy decisions.
 */
import { getHeapStatistics } from 'node:v8';
import { workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { move, transferableSymbol, valueSymbol } from 'piscina';
import { TokenClient, type TokenGrant } from '../arbiter/token-client.js';
import { Errors, serializeError } from '../protocol/errors.js';
import type { BackendRequest, ModelSource, SessionInfo, SessionReply, SessionTask } from '../protocol/session-messages.js';
import { arrayTypeOf, transferablesOf, type NamedTensors, type WireTensor } from '../protocol/tensors.js';
import { initBackend, readsAreCopies } from './backend.js';
import { KernelGate } from './gate.js';
import { installKernelGate } from './kernel-gate.js';
import { loadModel, type RunnableModel } from './load-model.js';
import {
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
}

interface Runtime {
  info: SessionInfo;
  infer(inputs: NamedTensors): NamedTensors;
}

const data = workerData as SessionWorkerData;
const stats = new Float64Array(data.stats);
let runtime: Promise<Runtime> | null = null;

async function start(): Promise<Runtime> {
  const backend = await initBackend(data.backend);
  const model = await loadModel(data.model);
  const gate = data.grant ? new KernelGate(new TokenClient(data.grant)) : null;
  installKernelGate(backend.name, (_name, costMs) => {
    stats[kKernelsField]++;
    stats[kChargedMsField] += costMs;
    if (costMs > stats[kLongestKernelMsField]) stats[kLongestKernelMsField] = costMs;
    gate?.charge(costMs);
  });
  const copyOnRead = !readsAreCopies(backend.name);
  const infer = (inputs: NamedTensors) => runOnce(model, gate, inputs, copyOnRead);

  const warmupStart = performance.now();
  const kernelsBefore = stats[kKernelsField];
  infer(zeroInputs(model));
  const info: SessionInfo = {
    backend,
    signature: model.signature,
    kernelsPerInference: stats[kKernelsField] - kernelsBefore,
    warmupMs: performance.now() - warmupStart,
    baselineTensors: tf.memory().numTensors,
    accounting: 'measured',
  };
  stats[kInferencesField] = 0;
  return { info, infer };
}

function runOnce(model: RunnableModel, gate: KernelGate | null, inputs: NamedTensors, copyOnRead: boolean): NamedTensors {
  const started = performance.now();
  const tensors: Record<string, tf.Tensor> = {};
  try {
    for (const spec of model.signature.inputs) {
      const input = inputs[spec.name];
      if (!input) throw Errors.invalidArgument(`inputs.${spec.name}`, 'is missing');
      tensors[spec.name] = tf.tensor(input.data, input.shape, tfDtypeOf(input.dtype));
    }
    gate?.begin();
    let outputs: tf.Tensor[] = [];
    try {
      outputs = tf.tidy(() => model.run(tensors));
      const wire: NamedTensors = {};
      model.signature.outputs.forEach((spec, i) => {
        wire[spec.name] = toWire(outputs[i], copyOnRead);
      });
      return wire;
    } finally {
      tf.dispose(outputs);
      gate?.end();
    }
  } finally {
    tf.dispose(Object.values(tensors));
    stats[kInferencesField]++;
    stats[kLastInferenceMsField] = performance.now() - started;
    stats[kLiveTensorsField] = tf.memory().numTensors;
    stats[kHeapUsedMbField] = getHeapStatistics().used_heap_size / 2 ** 20;
  }
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

function zeroInputs(model: RunnableModel): NamedTensors {
  const inputs: NamedTensors = {};
  for (const spec of model.signature.inputs) {
    const shape = spec.shape.map((d) => d ?? 1);
    const ArrayType = arrayTypeOf(spec.dtype);
    inputs[spec.name] = { dtype: spec.dtype, shape, data: new ArrayType(shape.reduce((a, b) => a * b, 1)) };
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
  try {
    const session = await (runtime ??= start());
    if (task.type === 'warmup') return { ok: true, value: session.info } satisfies SessionReply<SessionInfo>;
    return transferring({ ok: true, value: session.infer(task.inputs) });
  } catch (error) {
    return { ok: false, error: serializeError(error) } satisfies SessionReply<never>;
  }
}
