/**
 * Launches synthetic sessions (one worker thread each) against an arbiter, or ungated for a baseline, and
 * samples each thread's CPU time from the main thread, so every session is measured over the same window.
 */
import type { Worker } from 'node:worker_threads';
import type { DeviceArbiter } from '../arbiter/arbiter.js';
import { fromSerialized } from '../protocol/errors.js';
import { spawnWorker } from './spawn.js';
import {
  kControlSize,
  kGoField,
  kStopField,
  type SyntheticDone,
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
  /** From `calibrateSpin()`: converts each kernel's cost into iterations. */
  iterationsPerMs: number;
  /** Fixed work per session (kernels); 0 or absent: run until `stop()`. */
  maxKernels?: number;
}

interface Member {
  spec: SyntheticSessionSpec;
  worker: Worker;
  slot: number;
  tid: number;
  done: Promise<SyntheticDone>;
}

export class SyntheticFleet {
  readonly #control = new Int32Array(new SharedArrayBuffer(kControlSize * 4));
  readonly #members: Member[] = [];
  readonly #arbiter: DeviceArbiter | undefined;

  private constructor(arbiter: DeviceArbiter | undefined) {
    this.#arbiter = arbiter;
  }

  static async start(specs: SyntheticSessionSpec[], options: SyntheticFleetOptions): Promise<SyntheticFleet> {
    const fleet = new SyntheticFleet(options.arbiter);
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
  async measureWindow(windowMs: number, warmupMs: number): Promise<{ cpuMs: number[]; chargedMs: number[] }> {
    await sleep(warmupMs);
    const cpuBefore = this.cpuMs();
    const chargedBefore = this.#chargedMs();
    await sleep(windowMs);
    const cpuAfter = this.cpuMs();
    const chargedAfter = this.#chargedMs();
    return {
      cpuMs: cpuAfter.map((value, i) => value - cpuBefore[i]),
      chargedMs: chargedAfter.map((value, i) => value - chargedBefore[i]),
    };
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
      ...(grant ? { grant } : {}),
    };
    const worker = spawnWorker('./synthetic.worker.js', import.meta.url, { workerData: { ...data } });
    if (grant) options.arbiter!.watch(worker, grant.slot);
    const messages = onMessages(worker);
    const ready = await messages.next();
    if (ready.type !== 'ready') throw ready.type === 'error' ? fromSerialized(ready.error) : new Error('synthetic worker failed');
    const done = messages.next().then((message) => {
      if (message.type === 'done') return message;
      throw message.type === 'error' ? fromSerialized(message.error) : new Error('synthetic worker failed');
    });
    done.catch(() => {}); // observed through finished(); do not crash the process if nobody awaits it
    this.#members.push({ spec, worker, slot: grant?.slot ?? -1, tid: ready.tid, done });
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

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

