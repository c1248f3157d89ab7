/**
 * GPU time per kernel on the webgpu backend, from timestamp queries.
 *
 * TF.js's webgpu backend times every compute dispatch it encodes while its `activeTimers` list is set: the
 * dispatch gets a compute pass of its own with timestamp writes at the pass's start and end, is submitted
 * at once, and leaves `{ name, query }` in the list, `query` resolving to the pass's GPU duration in ms.
 * The backend's own `time(f)` cannot be used around a `predict`: it runs `f` synchronously and stops timing
 * at the first `await`, where a control-flow model (`executeAsync`) keeps launching kernels. So this sets up
 * the same timer state and keeps it until `stop()`; the kernel gate calls `take()` after each outermost
 * kernel, which claims the entries appended since the previous call.
 */
import * as tf from './tfjs.js';
import { Errors } from '../protocol/errors.js';

/** A timed dispatch, or the list of a `time()` call nested inside ours (tf.profile, DEBUG mode). */
type TimerEntry = { query: Promise<number> } | TimerEntry[];

/** The fields of TF.js 4.x's WebGPUBackend this relies on (backend_webgpu.ts: `time`, `recordAndSubmit`). */
interface TimedBackend {
  supportTimestampQuery?: boolean;
  activeTimers?: TimerEntry[] | null;
  programTimersStack?: TimerEntry[] | null;
}

export class GpuKernelTimer {
  readonly #backend: TimedBackend;
  readonly #saved: Pick<TimedBackend, 'activeTimers' | 'programTimersStack'>;
  readonly #entries: TimerEntry[] = [];
  #claimed = 0;
  #stopped = false;

  private constructor(backend: TimedBackend) {
    this.#backend = backend;
    this.#saved = { activeTimers: backend.activeTimers, programTimersStack: backend.programTimersStack };
    // Both fields, the way an outermost `time()` sets them: a `time()` nested inside then pushes its own list
    // into ours instead of taking the dispatches away from us.
    backend.activeTimers = this.#entries;
    backend.programTimersStack = this.#entries;
  }

  /** Starts timing every dispatch on the current backend, which must be webgpu with timestamp queries. */
  static start(): GpuKernelTimer {
    const name = tf.getBackend();
    if (name !== 'webgpu')
      throw Errors.invalidArgument('backend', `must be webgpu to time kernels with GPU timestamps, got ${name}`);
    const backend = tf.backend() as unknown as TimedBackend;
    // Without the feature the backend still "times" every dispatch, as 0 ms: refuse rather than profile zeros.
    if (backend.supportTimestampQuery !== true) {
      throw Errors.backendCannotProfile(
        'webgpu',
        'the GPU device has no "timestamp-query" feature, so kernels cannot be timed on the GPU (Dawn exposes it with enable-dawn-features=allow_unsafe_apis; some drivers do not have it at all)',
      );
    }
    if (backend.activeTimers != null)
      throw Errors.backendCannotProfile(
        'webgpu',
        'GPU timers are already running on this thread (inside tf.profile or tf.time?)',
      );
    return new GpuKernelTimer(backend);
  }

  /**
   * The dispatches launched since the previous call and their GPU time, which resolves once the GPU has run
   * them (0 ms when there are none, e.g. a reshape, or a kernel TF.js ran on the CPU).
   */
  take(): { dispatches: number; ms: Promise<number> } {
    const queries = flatten(this.#entries.slice(this.#claimed));
    this.#claimed = this.#entries.length;
    const ms =
      queries.length === 0 ? Promise.resolve(0) : Promise.all(queries).then((each) => each.reduce((a, b) => a + b, 0));
    return { dispatches: queries.length, ms };
  }

  /**
   * Puts the backend's timer state back; returns how many dispatches ran after the last `take()`, which
   * belong to no kernel (their queries are settled here, so nothing is left pending).
   */
  stop(): number {
    if (this.#stopped) return 0;
    this.#stopped = true;
    Object.assign(this.#backend, this.#saved);
    const left = flatten(this.#entries.slice(this.#claimed));
    this.#claimed = this.#entries.length;
    void Promise.allSettled(left);
    return left.length;
  }
}

function flatten(entries: TimerEntry[]): Promise<number>[] {
  return entries.flatMap((entry) => (Array.isArray(entry) ? flatten(entry) : [entry.query]));
}
