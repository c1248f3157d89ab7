/**
 * Launches synthetic sessions (one worker thread each) against an arbiter, or ungated for a baseline, and
 * samples each thread's CPU time from the main thread, so every session is measured over the same window.
 * On `webgpu` each session dispatches its kernels to a GPUDevice of its own (synthetic-gpu.worker.ts) and
 * also publishes the work the GPU has completed (and its GPU time), sampled the same way.
 */
import type { Worker } from 'node:worker_threads';
import type { DeviceArbiter } from '../../src/arbiter/arbiter.js';
import { Errors, fromSerialized } from '../../src/protocol/errors.js';
import type { GateMode } from '../../src/protocol/session-messages.js';
import { spawnBenchWorker } from './spawn-bench-worker.js';
import {
  kCompletedKernelsField,
  kControlSize,
  kGoField,
  kGpuMsField,
  kProgressSize,
  kStopField,
  type SyntheticCalibrated,
  type SyntheticCharging,
  type SyntheticDevice,
  type SyntheticDone,
  type SyntheticGpuWorkerData,
  type SyntheticMessage,
  type SyntheticWorkerData,
} from './synthetic-protocol.js';
import { threadCpuMs } from './thread-cpu.js';

export interface SyntheticSessionSpec {
  name: string;
  /** Solo cost of one kernel, ms. */
  kernelMs: number;
  kernelsPerInference?: number;
  weight?: number;
  priority?: number;
  /** Fixed work for this session (kernels); overrides the fleet's `maxKernels`. */
  maxKernels?: number;
}

export interface SyntheticFleetOptions {
  /** Omit to run ungated. */
  arbiter?: DeviceArbiter;
  /** From `calibrateSpin()` (webgpu: `calibrateWebgpuSpin()`): converts each kernel's cost into iterations. */
  iterationsPerMs: number;
  /** Fixed work per session (kernels); 0 or absent: run until `stop()`. */
  maxKernels?: number;
  /** Where the kernels run (default cpu). */
  device?: SyntheticDevice;
  /**
   * cpu: what a gated session is charged (default `fixed`: tests of the policies want charges they can
   * predict; the synthetic bench charges `cpu-time`, as a wasm or cpu session is charged).
   */
  charging?: SyntheticCharging;
  /** webgpu: whether the token covers an inference's GPU work until it is done (strict) or until submitted (overlap, the default). */
  gateMode?: GateMode;
  /** webgpu: time every dispatch with timestamp queries, for `measureWindow`'s `gpuMs` (default false). */
  gpuTiming?: boolean;
}

/** One window's measures per session, in the fleet's order. */
export interface SyntheticWindow {
  cpuMs: number[];
  chargedMs: number[];
  /** webgpu: solo cost of the kernels whose inference the GPU finished in the window, ms. */
  workMs?: number[];
  /** webgpu with `gpuTiming`: the finished dispatches' GPU time, ms. */
  gpuMs?: number[];
}

interface Member {
  spec: SyntheticSessionSpec;
  worker: Worker;
  slot: number;
  tid: number;
  done: Promise<SyntheticDone>;
  /** webgpu: what the session publishes (synthetic-protocol.ts `kCompletedKernelsField`…). */
  progress: Float64Array | null;
}

export class SyntheticFleet {
  readonly #control = new Int32Array(new SharedArrayBuffer(kControlSize * 4));
  readonly #members: Member[] = [];
  readonly #arbiter: DeviceArbiter | undefined;
  readonly #device: SyntheticDevice;

  private constructor(arbiter: DeviceArbiter | undefined, device: SyntheticDevice) {
    this.#arbiter = arbiter;
    this.#device = device;
  }

  static async start(specs: SyntheticSessionSpec[], options: SyntheticFleetOptions): Promise<SyntheticFleet> {
    validate(options);
    const fleet = new SyntheticFleet(options.arbiter, options.device ?? 'cpu');
    try {
      for (const spec of specs) await fleet.#spawn(spec, options);
    } catch (error) {
      await fleet.terminate();
      throw error;
    }
    return fleet;
  }

  get slots(): number[] {
    return this.#members.map((member) => member.slot);
  }

  get names(): string[] {
    return this.#members.map((member) => member.spec.name);
  }

  get workers(): Worker[] {
    return this.#members.map((member) => member.worker);
  }

  /** Releases every session at once (they wait on one shared word). */
  go(): void {
    Atomics.store(this.#control, kGoField, 1);
    Atomics.notify(this.#control, kGoField);
  }

  stop(): void {
    Atomics.store(this.#control, kStopField, 1);
  }

  /** Each session thread's CPU time so far, ms (read from /proc by this thread: one instant for all). */
  cpuMs(): number[] {
    return this.#members.map((member) => threadCpuMs(member.tid));
  }

  /**
   * Lets the sessions run `warmupMs` (so all are backlogged), then measures each one's thread CPU time and,
   * when gated, charged cost over the next `windowMs`. Call after `go()`.
   */
  async measureWindow(windowMs: number, warmupMs: number): Promise<SyntheticWindow> {
    await sleep(warmupMs);
    const cpuBefore = this.cpuMs();
    const chargedBefore = this.#chargedMs();
    const gpuBefore = this.#gpuProgress();
    await sleep(windowMs);
    const cpuAfter = this.cpuMs();
    const chargedAfter = this.#chargedMs();
    const gpuAfter = this.#gpuProgress();
    const window: SyntheticWindow = {
      cpuMs: cpuAfter.map((value, i) => value - cpuBefore[i]),
      chargedMs: chargedAfter.map((value, i) => value - chargedBefore[i]),
    };
    if (gpuBefore && gpuAfter) {
      window.workMs = gpuAfter.map(
        (after, i) => (after.kernels - gpuBefore[i].kernels) * this.#members[i].spec.kernelMs,
      );
      window.gpuMs = gpuAfter.map((after, i) => after.gpuMs - gpuBefore[i].gpuMs);
    }
    return window;
  }

  #gpuProgress(): Array<{ kernels: number; gpuMs: number }> | null {
    if (this.#device !== 'webgpu') return null;
    return this.#members.map(({ progress }) => ({
      kernels: progress![kCompletedKernelsField],
      gpuMs: progress![kGpuMsField],
    }));
  }

  #chargedMs(): number[] {
    if (!this.#arbiter) return this.#members.map(() => 0);
    const bySlot = new Map(this.#arbiter.stats().sessions.map((row) => [row.slot, row.chargedMs]));
    return this.#members.map((member) => bySlot.get(member.slot) ?? 0);
  }

  finished(): Promise<SyntheticDone[]> {
    return Promise.all(this.#members.map((member) => member.done));
  }

  async terminate(): Promise<void> {
    this.stop();
    this.go();
    await Promise.all(
      this.#members.map(async (member) => {
        // Let each session leave on its own first: it stops at its next kernel and gives its token back, so it
        // is not killed inside the arbiter's critical section (survivable, but every waiter then loses a wait
        // slice). A webgpu session answers (done, error or exit) only once its device is destroyed:
        // terminating a thread while dawn.node has work in flight aborts the whole process.
        await settledWithin(member.done, this.#device === 'webgpu' ? kGpuShutdownMs : kCpuShutdownMs);
        await member.worker.terminate();
        if (this.#arbiter && member.slot >= 0) this.#arbiter.unregister(member.slot);
      }),
    );
    this.#members.length = 0;
  }

  async #spawn(spec: SyntheticSessionSpec, options: SyntheticFleetOptions): Promise<void> {
    const grant = options.arbiter?.register({ name: spec.name, weight: spec.weight, priority: spec.priority });
    const data: SyntheticWorkerData = {
      control: this.#control.buffer as SharedArrayBuffer,
      kernelIterations: Math.max(1, Math.round(spec.kernelMs * options.iterationsPerMs)),
      kernelCostMs: spec.kernelMs,
      kernelsPerInference: spec.kernelsPerInference ?? 10,
      maxKernels: spec.maxKernels ?? options.maxKernels ?? 0,
      charging: options.charging ?? 'fixed',
      ...(grant ? { grant } : {}),
    };
    const progress = this.#device === 'webgpu' ? new Float64Array(new SharedArrayBuffer(kProgressSize * 8)) : null;
    const gpuData: SyntheticGpuWorkerData | null = progress
      ? {
          ...data,
          gateMode: options.gateMode ?? 'overlap',
          gpuTiming: options.gpuTiming ?? false,
          progress: progress.buffer as SharedArrayBuffer,
        }
      : null;
    const worker = gpuData
      ? spawnBenchWorker('synthetic-gpu.worker.js', { workerData: { ...gpuData } })
      : spawnBenchWorker('synthetic.worker.js', { workerData: { ...data } });
    if (grant) options.arbiter!.watch(worker, grant.slot);
    const messages = onMessages(worker);
    const ready = await messages.next().catch((error: Error) => ({ type: 'exit', error }) as const);
    if (ready.type !== 'ready') {
      // A webgpu worker answers after destroying its device, so it can be terminated now.
      await worker.terminate();
      if (grant) options.arbiter!.unregister(grant.slot);
      throw ready.type === 'error'
        ? fromSerialized(ready.error)
        : ready.type === 'exit'
          ? ready.error
          : new Error('synthetic worker failed');
    }
    const done = messages.next().then((message) => {
      if (message.type === 'done') return message;
      throw message.type === 'error' ? fromSerialized(message.error) : new Error('synthetic worker failed');
    });
    done.catch(() => {}); // observed through finished(); do not crash the process if nobody awaits it
    this.#members.push({ spec, worker, slot: grant?.slot ?? -1, tid: ready.tid, done, progress });
  }
}

/**
 * Iterations of the GPU spin per ms of solo GPU time, measured by one worker alone on a device of its own
 * (see synthetic-gpu-kernel.ts `calibrateGpuSpin`); `method` says how the dispatches were timed.
 */
export async function calibrateWebgpuSpin(): Promise<Omit<SyntheticCalibrated, 'type'>> {
  const data: SyntheticGpuWorkerData = {
    control: new SharedArrayBuffer(kControlSize * 4),
    kernelIterations: 1,
    kernelCostMs: 0,
    kernelsPerInference: 1,
    maxKernels: 0,
    gateMode: 'overlap',
    gpuTiming: false,
    progress: new SharedArrayBuffer(kProgressSize * 8),
    calibrate: true,
  };
  const worker = spawnBenchWorker('synthetic-gpu.worker.js', { workerData: { ...data } });
  try {
    // The worker answers only once its device is destroyed, so terminating it afterwards is safe.
    const answer = await onMessages(worker).next();
    if (answer.type === 'calibrated') return { iterationsPerMs: answer.iterationsPerMs, method: answer.method };
    throw answer.type === 'error'
      ? fromSerialized(answer.error)
      : new Error(`synthetic GPU worker answered ${answer.type}`);
  } finally {
    await worker.terminate();
  }
}

function validate(options: SyntheticFleetOptions): void {
  const { device = 'cpu', gateMode, gpuTiming } = options;
  if (device !== 'cpu' && device !== 'webgpu')
    throw Errors.invalidArgument('device', `must be cpu or webgpu, got ${JSON.stringify(device)}`);
  if (gateMode !== undefined && gateMode !== 'overlap' && gateMode !== 'strict') {
    throw Errors.invalidArgument('gateMode', `must be overlap or strict, got ${JSON.stringify(gateMode)}`);
  }
  if (device === 'cpu' && gateMode !== undefined)
    throw Errors.invalidArgument(
      'gateMode',
      'only webgpu sessions have a gate mode (a CPU kernel is done when it returns)',
    );
  if (device === 'cpu' && gpuTiming) throw Errors.invalidArgument('gpuTiming', 'needs device webgpu');
  if (!(options.iterationsPerMs > 0))
    throw Errors.invalidArgument('iterationsPerMs', `must be a positive number, got ${options.iterationsPerMs}`);
}

/** How long a webgpu session may take to finish its inference and destroy its device once told to stop. */
const kGpuShutdownMs = 30_000;
/** A CPU session stops at its next kernel boundary; longer means it is stuck, and is terminated anyway. */
const kCpuShutdownMs = 2_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits for `promise` to settle, at most `ms` (a session that hangs must not hang the launcher too). */
async function settledWithin(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([promise.catch(() => {}), new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

/** Messages of one worker in order; an exit before the next message rejects it. */
function onMessages(worker: Worker): { next(): Promise<SyntheticMessage> } {
  const queue: SyntheticMessage[] = [];
  const waiters: Array<{ resolve(m: SyntheticMessage): void; reject(e: Error): void }> = [];
  let gone: Error | null = null;
  worker.on('message', (message: SyntheticMessage) => {
    const waiter = waiters.shift();
    if (waiter) waiter.resolve(message);
    else queue.push(message);
  });
  const fail = (error: Error) => {
    gone = error;
    for (const waiter of waiters.splice(0)) waiter.reject(error);
  };
  worker.once('error', fail);
  worker.once('exit', (code) => fail(new Error(`synthetic worker exited with code ${code}`)));
  return {
    next() {
      const queued = queue.shift();
      if (queued) return Promise.resolve(queued);
      if (gone) return Promise.reject(gone);
      return new Promise((resolve, reject) => waiters.push({ resolve, reject }));
    },
  };
}
