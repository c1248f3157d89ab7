/**
 * The main thread's handle on one model session: a bounded request queue in front of the session's one
 * worker thread (session-thread.ts: its start, crash and restart, and its slot on the device arbiter).
 *
 * The queue is ours rather than piscina's because a queued request must be cancellable, and deadline-checked
 * and batched when it is taken (piscina would terminate the thread to abort a running task). Piscina owns
 * the thread's life and carries the tasks: one running and one staged behind it, so back-to-back requests
 * need no round trip. A thread that dies fails its requests and every queued one with SESSION_CRASHED.
 */
import type { Piscina } from 'piscina';
import type { DeviceArbiter } from '../arbiter/arbiter.js';
import { nowMs } from '../arbiter/clock.js';
import { type ErrorCode, Errors, fromSerialized, type OlympianError } from '../protocol/errors.js';
import type { MemoryReport, SessionInfo } from '../protocol/session-messages.js';
import { batchSizeOf, type NamedTensors } from '../protocol/tensors.js';
import { DeadlineBook } from './deadline-book.js';
import { LatencyWindow } from './latency.js';
import { batchKeyOf, RequestQueue, type Pending } from './request-queue.js';
import type { AdmissionMode } from './service-time.js';
import { claimRequest, kKernelMsField, kRequestCancelled, newSessionStatsBuffer } from './session-layout.js';
import type { SessionOptions } from './session-options.js';
import { kStaged, postBatch } from './session-pool.js';
import { sessionStatsRow, type SessionStats } from './session-stats.js';
import { SessionThread, type SessionState } from './session-thread.js';

export class Session {
  readonly name: string;
  readonly #options: SessionOptions;
  readonly #stats = new Float64Array(newSessionStatsBuffer());
  readonly #backlog = new Int32Array(new SharedArrayBuffer(4));
  readonly #queue = new RequestQueue();
  readonly #latency = new LatencyWindow();
  readonly #errors: Partial<Record<ErrorCode, number>> = {};
  readonly #deadlines: DeadlineBook;
  readonly #thread: SessionThread;
  /** Batches dispatched to the worker: the one running and the one staged behind it. */
  readonly #inFlight: Pending[][] = [];
  #batchTimer: NodeJS.Timeout | null = null;
  #idle: Array<() => void> = [];
  #leaveDevice: (() => void) | null;

  private constructor(arbiter: DeviceArbiter | null, options: SessionOptions) {
    this.name = options.name;
    this.#options = options;
    this.#deadlines = new DeadlineBook({
      maxBatch: options.maxBatch ?? 1,
      inFlight: this.#inFlight,
      queue: this.#queue,
      kernelMs: () => this.#stats[kKernelMsField],
      device: options.device,
      weight: () => this.#thread.weight,
      onOutcome: options.onOutcome,
    });
    this.#leaveDevice = options.device?.join(this.#deadlines) ?? null;
    this.#thread = new SessionThread(
      arbiter,
      options,
      { stats: this.#stats, backlog: this.#backlog },
      {
        warmed: (info) => this.#deadlines.warm(info.runCostLine),
        crashed: (error) => {
          const victims = [...this.#inFlight.splice(0).flat(), ...this.#queue.drain()];
          for (const pending of victims) this.#settle(pending, error);
        },
        restarted: () => this.#pump(),
      },
    );
  }

  /** Starts the thread, loads and warms the model; rejects (and cleans up) if the session cannot start. */
  static async start(arbiter: DeviceArbiter | null, options: SessionOptions): Promise<Session> {
    const session = new Session(arbiter, options);
    try {
      await session.#thread.start();
    } catch (error) {
      await session.close({ drain: false });
      throw error;
    }
    return session;
  }

  get info(): SessionInfo {
    return this.#thread.info;
  }

  /** What the session reported once warm, or null before it ever was. */
  get infoOrNull(): SessionInfo | null {
    return this.#thread.infoOrNull;
  }

  get state(): SessionState {
    return this.#thread.state;
  }

  get slot(): number {
    return this.#thread.grant?.slot ?? -1;
  }

  /** The model's account on the arbiter (-1 without one): a sibling instance joins it. */
  get account(): number {
    return this.#thread.grant?.account ?? -1;
  }

  /** Requests waiting or running here: where a model's next request goes is the instance with the fewest. */
  get load(): number {
    return this.#queue.length + this.#inFlight.reduce((sum, batch) => sum + batch.length, 0);
  }

  get latency(): LatencyWindow {
    return this.#latency;
  }

  /** Its most urgent request (deadline on the clock, Infinity: none) and the device time up to and including it. */
  get head(): { deadlineAtMs: number; costMs: number } {
    return this.#deadlines.head();
  }

  /**
   * Queues one request. Inputs are checked against the signature by the caller (the server) before this;
   * here they are only batched, ordered by `priority` and run before `deadlineAtMs` (the shared clock) or
   * not at all; with `admission: 'predicted'`, refused at once if predicted to be answered after it.
   */
  infer(
    inputs: NamedTensors,
    options: {
      signal?: AbortSignal;
      deadlineAtMs?: number;
      priority?: number;
      admission?: AdmissionMode;
      /** Items in the request, as the server counted them by the signature (default: the first input's axis 0). */
      rows?: number;
    } = {},
  ): Promise<NamedTensors> {
    const { signal, deadlineAtMs, priority = 0, admission = 'start' } = options;
    return new Promise<NamedTensors>((resolve, reject) => {
      const fail = (error: OlympianError) => {
        this.#count(error.code);
        reject(error);
      };
      if (this.state !== 'ready') return fail(Errors.unavailable(`session is ${this.state}`, this.name));
      if (signal?.aborted) return fail(Errors.cancelled(this.name));
      if (this.#queue.length >= (this.#options.maxQueue ?? 64) && this.#inFlight.length >= kStaged) {
        return fail(Errors.queueFull(this.name, this.#queue.length));
      }
      const rows = options.rows ?? batchSizeOf(inputs);
      const now = nowMs();
      const { expectedMs, predictedAtMs, dropIfLate, refusedLateMs } = this.#deadlines.admit(
        now,
        rows,
        deadlineAtMs,
        admission,
      );
      if (refusedLateMs !== null) {
        const why = `refused: predicted to be answered ${refusedLateMs.toFixed(1)} ms late`;
        return fail(Errors.deadlineExceeded(this.name, why));
      }
      const pending: Pending = {
        inputs,
        rows,
        batchKey: batchKeyOf(inputs),
        priority,
        enqueuedAtMs: now,
        deadlineAtMs,
        dropIfLate,
        expectedMs,
        predictedAtMs,
        claim: new Int32Array(new SharedArrayBuffer(4)),
        resolve,
        reject: fail,
        signal,
        onAbort: undefined,
        settled: false,
      };
      Atomics.add(this.#backlog, 0, 1);
      if (signal) {
        pending.onAbort = () => this.#settle(pending, Errors.cancelled(this.name));
        signal.addEventListener('abort', pending.onAbort, { once: true });
      }
      this.#queue.push(pending);
      this.#options.onLoad?.();
      this.#pump();
    });
  }

  /**
   * Fault injection (tests, soak runs): terminates the session's thread wherever it is — holding the token
   * or not — exactly as a crash would end it. The session restarts as after any crash.
   */
  killThread(): Promise<void> {
    return this.#thread.kill();
  }

  /** Full GC in the session's thread, then its live tensors and heap; queued behind running work. */
  collect(): Promise<MemoryReport> {
    return this.#thread.collect();
  }

  stats(): SessionStats {
    return sessionStatsRow(this.#stats, {
      name: this.name,
      state: this.state,
      slot: this.slot,
      info: this.infoOrNull,
      queueDepth: this.#queue.length,
      latency: this.#latency,
      restarts: this.#thread.restarts,
      errors: this.#errors,
      deadlines: this.#deadlines.counts,
    });
  }

  /** Stops accepting work; with `drain`, finishes what is queued first, else fails it with UNAVAILABLE. */
  async close({ drain = true }: { drain?: boolean } = {}): Promise<void> {
    if (this.state === 'closed') return;
    const wasRestarting = this.#thread.beginClose();
    if (!drain || wasRestarting)
      for (const pending of this.#queue.drain())
        this.#settle(pending, Errors.unavailable('session is closing', this.name));
    this.#pump();
    if (this.#inFlight.length > 0 || this.#queue.length > 0)
      await new Promise<void>((resolve) => this.#idle.push(resolve));
    await this.#thread.stop();
    this.#leaveDevice?.();
  }

  #pump(): void {
    if (this.#batchTimer) clearTimeout(this.#batchTimer);
    this.#batchTimer = null;
    const pool = this.#thread.pool;
    if (this.state === 'starting' || this.state === 'restarting' || !pool) return;
    const now = nowMs();
    for (const late of this.#deadlines.expire(now)) {
      const why =
        late.deadlineAtMs! < now ? 'the deadline passed while queued' : 'dropped: it can no longer be in time';
      this.#settle(late, Errors.deadlineExceeded(this.name, why));
    }
    const maxBatch = this.#options.maxBatch ?? 1;
    while (this.#inFlight.length < kStaged && this.#queue.length > 0) {
      const waitUs = (this.#options.batchWindowUs ?? 0) - (now - this.#queue.oldestEnqueuedAtMs) * 1000;
      if (maxBatch > 1 && waitUs > 0 && this.#queue.rowsBatchableWithHead() < maxBatch && this.state !== 'closing') {
        this.#batchTimer = setTimeout(() => this.#pump(), Math.max(1, waitUs / 1000));
        break;
      }
      this.#dispatch(pool, this.#queue.takeBatch(maxBatch));
    }
    if (this.#inFlight.length === 0 && this.#queue.length === 0) for (const resolve of this.#idle.splice(0)) resolve();
  }

  #dispatch(pool: Piscina, batch: Pending[]): void {
    this.#inFlight.push(batch);
    postBatch(pool, batch).then(
      (reply) => {
        const index = this.#inFlight.indexOf(batch);
        if (index < 0) return; // its pool crashed meanwhile
        this.#inFlight.splice(index, 1);
        this.#deadlines.batchAnswered(batch);
        batch.forEach((pending, i) => {
          const item = reply.ok ? reply.value[i] : reply;
          if (item.ok) this.#settle(pending, null, item.value as NamedTensors);
          else this.#settle(pending, Errors.inSession(fromSerialized(item.error), this.name));
        });
        this.#pump();
      },
      (error: Error) => {
        // A task that could not be posted (its inputs cannot be cloned or moved) never reached the thread,
        // which is as well as it was: fail this batch alone.
        if (error?.name !== 'DataCloneError') return this.#thread.crashed(pool, error.message);
        const index = this.#inFlight.indexOf(batch);
        if (index >= 0) this.#inFlight.splice(index, 1);
        for (const pending of batch)
          this.#settle(
            pending,
            Errors.invalidArgument('inputs', `cannot be sent to the session's thread: ${error.message}`),
          );
        this.#pump();
      },
    );
  }

  #settle(pending: Pending, error: OlympianError | null, outputs?: NamedTensors): void {
    if (pending.settled) return;
    pending.settled = true;
    claimRequest(pending.claim, this.#backlog, kRequestCancelled);
    if (pending.onAbort) pending.signal?.removeEventListener('abort', pending.onAbort);
    this.#queue.remove(pending);
    this.#options.onLoad?.();
    this.#deadlines.settled(pending, error, nowMs());
    if (error) pending.reject(error);
    else {
      this.#latency.record(nowMs() - pending.enqueuedAtMs);
      pending.resolve(outputs!);
    }
  }

  #count(code: ErrorCode): void {
    this.#errors[code] = (this.#errors[code] ?? 0) + 1;
  }
}
