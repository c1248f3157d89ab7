/**
 * Recording: runs a model with the kernel gate's wrapper installed and writes down every outermost kernel of
 * each inference, in launch order, with its cost. On a synchronous backend (wasm, cpu) the cost is the
 * kernel's wall-clock time; on webgpu a kernel only encodes GPU work, so its cost is the GPU time of the
 * compute dispatches it launched, from timestamp queries (gpu-timer.ts), read back after the inference.
 *
 * Batch sizes are run round-robin (run 1 of every batch size, then run 2, …) rather than one after the
 * other, so a slow drift in machine load (another process starting, frequency scaling) lands on every batch
 * size alike instead of bending the fit across them.
 */
import * as tf from '../device/tfjs.js';
import type { LoadedModel } from '../models/index.js';
import { Errors } from '../protocol/errors.js';
import { installKernelHook, type KernelParams } from '../device/kernel-hook.js';
import { isSynchronousBackend } from './fingerprint.js';
import { GpuKernelTimer } from '../device/gpu-timer.js';
import type { ProfileMethod } from './schema.js';
import { launchFromParams, launchKey, type KernelLaunch } from './sequence.js';

export interface RecordedRun {
  launches: KernelLaunch[];
  costsMs: Float64Array;
  /**
   * The whole `predict`, kernels and the JS between them; on webgpu until the GPU has finished, with every
   * dispatch in a timed pass of its own and submitted alone (slower than serving runs it).
   */
  wallMs: number;
  /** webgpu: how many GPU dispatches each kernel launched (the ones timed). */
  dispatches?: Int32Array;
}

export interface BatchRecording {
  batch: number;
  /** How `costsMs` were obtained. */
  method: ProfileMethod;
  /** Measured runs only (warm-up runs are dropped). */
  runs: RecordedRun[];
}

export interface RecordOptions {
  batches: readonly number[];
  /** Measured runs per batch size. */
  runs: number;
  /** Runs per batch size before measuring (first-use allocations, operator caches): dropped. */
  warmupRuns: number;
  /** Spatial size for input dims the model leaves open (other than the batch). */
  inputSize?: number;
  /** Called after every run, warm-up included: `(done, total)`. */
  onRun?: (done: number, total: number) => void;
}

export async function recordModel(model: LoadedModel, options: RecordOptions): Promise<BatchRecording[]> {
  const backend = tf.getBackend();
  const method = methodFor(backend);
  const inputs = options.batches.map((batch) => makeInputs(model, batch, options.inputSize));
  const recordings: BatchRecording[] = options.batches.map((batch) => ({ batch, method, runs: [] }));
  let launches: KernelLaunch[] = [];
  let costs: (number | Promise<number>)[] = [];
  let dispatches: number[] = [];
  let timer: GpuKernelTimer | null = null;
  let recording = false;
  const gate = installKernelHook(backend, (name: string, costMs: number, params: KernelParams) => {
    if (!recording) return;
    launches.push(launchFromParams(name, params));
    if (!timer) {
      costs.push(costMs);
      return;
    }
    const taken = timer.take();
    costs.push(taken.ms);
    dispatches.push(taken.dispatches);
  });
  try {
    const total = (options.warmupRuns + options.runs) * options.batches.length;
    let done = 0;
    for (let run = 0; run < options.warmupRuns + options.runs; run++) {
      for (let j = 0; j < options.batches.length; j++) {
        launches = [];
        costs = [];
        dispatches = [];
        // Started per inference, stopped before anything else may run on this thread between inferences.
        if (method === 'gpu-timestamp') timer = GpuKernelTimer.start();
        recording = true;
        const started = performance.now();
        let outputs: Record<string, tf.Tensor>;
        let unattributed = 0;
        try {
          outputs = await model.predict(inputs[j]);
        } finally {
          recording = false;
          unattributed = timer?.stop() ?? 0;
          timer = null;
        }
        const costsMs = await Promise.all(costs);
        const wallMs = performance.now() - started;
        tf.dispose(Object.values(outputs));
        // Their time would be dropped without a trace: a profile that quietly undercounts is worse than none.
        if (unattributed > 0)
          throw Errors.backendCannotProfile(
            backend,
            `${unattributed} GPU dispatch(es) ran outside any kernel, so their time cannot be attributed`,
          );
        if (run >= options.warmupRuns) {
          const measured: RecordedRun = { launches, costsMs: Float64Array.from(costsMs), wallMs };
          if (method === 'gpu-timestamp') measured.dispatches = Int32Array.from(dispatches);
          recordings[j].runs.push(measured);
        }
        options.onRun?.(++done, total);
        // Let the progress bar and timers run between inferences; a long profile should not freeze the process.
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
  } finally {
    recording = false;
    // A failed inference may leave timed dispatches behind: settle them, or their rejections go unhandled.
    void Promise.allSettled(costs);
    gate.uninstall();
    for (const named of inputs) tf.dispose(Object.values(named));
  }
  return recordings;
}

/** How kernels can be timed on `backend`; other backends cannot be profiled. */
function methodFor(backend: string): ProfileMethod {
  if (isSynchronousBackend(backend)) return 'wall-clock';
  if (backend === 'webgpu') return 'gpu-timestamp';
  throw Errors.invalidArgument('backend', `must be wasm, cpu or webgpu to profile, got ${backend}`);
}

/** Deterministic inputs in [-1, 1): data-dependent fast paths, if a kernel had any, would see real-looking data. */
function makeInputs(model: LoadedModel, batch: number, inputSize?: number): Record<string, tf.Tensor> {
  const named: Record<string, tf.Tensor> = {};
  for (const spec of model.signature.inputs) {
    if (spec.shape === null)
      throw Errors.invalidArgument(`inputs.${spec.name}`, 'has an unknown rank; cannot make a profiling input for it');
    const shape = spec.shape.map((d, i) => {
      if (i === 0) return batch;
      if (d !== null) return d;
      if (inputSize === undefined)
        throw Errors.invalidArgument(
          'inputSize',
          `is needed: input ${spec.name} has an open dim ${i} (shape [${spec.shape!.map((x) => x ?? '?').join(', ')}])`,
        );
      return inputSize;
    });
    const size = shape.reduce((a, b) => a * b, 1);
    if (spec.dtype === 'int32' || spec.dtype === 'bool') {
      named[spec.name] = tf.zeros(shape, spec.dtype);
      continue;
    }
    const data = new Float32Array(size);
    let state = 0x2545f491;
    for (let i = 0; i < size; i++) {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
      data[i] = state / 2 ** 31 - 1;
    }
    named[spec.name] = tf.tensor(data, shape, 'float32');
  }
  return named;
}

/** Whether every run of a batch size launched the same sequence (it should: names and shapes are fixed). */
export function runsAgree(recording: BatchRecording): boolean {
  const [first, ...rest] = recording.runs;
  if (first === undefined) return false;
  const keys = first.launches.map(launchKey);
  return rest.every(
    (run) => run.launches.length === keys.length && run.launches.every((l, i) => launchKey(l) === keys[i]),
  );
}

/** Per-position median cost over the runs (runs must agree). */
export function medianCostsMs(recording: BatchRecording): number[] {
  const positions = recording.runs[0]?.costsMs.length ?? 0;
  const out: number[] = new Array(positions);
  const column = new Float64Array(recording.runs.length);
  for (let p = 0; p < positions; p++) {
    recording.runs.forEach((run, r) => (column[r] = run.costsMs[p]));
    column.sort();
    const mid = column.length >> 1;
    out[p] = column.length % 2 === 1 ? column[mid] : (column[mid - 1] + column[mid]) / 2;
  }
  return out;
}
