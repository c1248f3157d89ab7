/**
 * The main thread's handle on one model session: a piscina pool of exactly one worker thread, a bounded
 * request queue in front of it, and the session's slot on the device arbiter.
 *
 * The queue is ours rather than piscina's because a queued request must be cancellable, and deadline-checked
 * and batched when it is taken (piscina would terminate the thread to abort a running task). Piscina owns
 * the thread's life and carries the tasks: one running and one staged behind it, so back-to-back requests
 * need no round trip. A thread that dies fails its requests and every queued one with SESSION_CRASHED, its
 * token is reclaimed, and a fresh pool is started after a backoff.
 */
import { Piscina } from 'piscina';
import type { DeviceArbiter } from '../arbiter/arbiter.js';
import type { TokenGrant } from '../arbiter/token-client.js';
import { type ErrorCode, Errors, fromSerialized, type OlympianError } from '../protocol/errors.js';
import type {
  BackendRequest,
  GateMode,
  MemoryReport,
  ModelSource,
  SessionInfo,
  SessionReply,
  SessionTask,
} from '../protocol/session-messages.js';
import { batchSizeOf, transferablesOf, type NamedTensors } from '../protocol/tensors.js';
import {
  kBatchesField,
  kBusyMsField,
  kChargedMsField,
  kExitGpuLost,
  kExitReasonField,
  kGpuMsField,
  kGpuWaitMsField,
  kGpuWaitsField,
  kHeapUsedMbField,
  kInferencesField,
  kKernelsField,
  kLastInferenceMsField,
  kLiveTensorsField,
  kLongestKernelMsField,
  newSessionStatsBuffer,
  claimRequest,
  kRequestCancelled,
} from './session-layout.js';
import type { SessionWorkerData } from './session-runtime.js';
import { LatencyWindow } from './latency.js';
import { batchKeyOf, RequestQueue, type Pending } from './request-queue.js';
import { DeadlineBook } from './deadline-book.js';
import type { DeviceBook } from './device-book.js';
import type { AdmissionMode, DeadlineCounts, DeadlineOutcome } from './service-time.js';
import { nowMs } from '../arbiter/clock.js';
import { workerSource } from './spawn.js';
import type { WarmupInputs } from '../protocol/warmup-inputs.js';

export interface SessionOptions {
  name: string;
  model: ModelSource;
  backend?: BackendRequest;
  weight?: number;
  priority?: number;
  /**
   * This session is one of several instances of a model: it joins that model's account on the arbiter
   * (a sibling's `account`) and takes its weight and priority. `instance` numbers it, for stats and traces.
   */
  account?: number;
  instance?: number;
  /** Called whenever the requests waiting or running here change (the server's measure of token demand). */
  onLoad?: () => void;
  /** Called as each request with a deadline ends; `predictionErrorMs`: answered minus predicted, when answered. */
  onOutcome?: (outcome: DeadlineOutcome, predictionErrorMs: number | undefined) => void;
  /** The server's book of every session's work, for admission (none: it predicts as if alone on the device). */
  device?: DeviceBook;
  /** Requests that may wait behind the running ones; more get QUEUE_FULL at once. */
  maxQueue?: number;
  /** Most items (rows on the batch axis) coalesced into one run. 1 disables batching. */
  maxBatch?: number;
  /** How long the oldest queued request may wait for others to batch with, µs. */
  batchWindowUs?: number;
  /** webgpu: hand the token on right after submitting (`overlap`, default) or once the GPU is done (`strict`). */
  gateMode?: GateMode;
  /** `predicted`: charge the offline profile's per-kernel costs (see workers/cost-plans.ts). */
  accounting?: 'predicted' | 'measured';
  /** A profile file or a profiles directory (default `profiles`). */
  profile?: string;
  /** With `predicted`: profile small models at session start instead of reading a profile file. */
  autoProfile?: boolean;
  /**
   * webgpu: measure the GPU time of every dispatch with timestamp queries (stats `gpuMs`). For benchmarks:
   * each dispatch then gets its own compute pass and submit, so it costs CPU time and changes batching.
   */
  gpuTiming?: boolean;
  /**
   * ONNX models: onnxruntime's execution providers in order of preference (default `['cpu']`); a provider
   * this machine lacks fails the start with BACKEND_UNAVAILABLE naming it. A GPU provider needs the device's
   * one token (K = 1): two sessions on one must never run at once.
   */
  executionProviders?: string[];
  /** ONNX models: onnxruntime's intra-op threads (default 1: one token is one core). */
  intraOpThreads?: number;
  /**
   * ONNX models: split a model whose run takes longer than this (ms, at batch 1) into segments of about this
   * long, so the session can hand its token on between them; 0 never splits. Default: the finest of 10, 20
   * or 40 ms whose measured cost stays within 3% of a run (workers/onnx-split.ts).
   */
  segmentMs?: number;
  /**
   * The shape of a real batch-of-one input, per input with free dimensions besides the batch axis: warm-up
   * and the memory probe run zeros of it (default: every free dimension 1, which some models refuse).
   */
  warmupInputs?: WarmupInputs;
  /** First restart delay after a crash, ms; doubles per crash in a row, up to restartMaxMs. */
  restartBackoffMs?: number;
  restartMaxMs?: number;
}

export type SessionState = 'starting' | 'ready' | 'restarting' | 'closing' | 'closed';

export interface SessionStats {
  name: string;
  state: SessionState;
  slot: number;
  backend: SessionInfo['backend'] | null;
  accounting: SessionInfo['accounting'] | null;
  queueDepth: number;
  /** Enqueue to answer, over the last 2,048 answered requests. */
  latencyP50Ms: number;
  latencyP99Ms: number;
  inferences: number;
  /** Model runs: coalesced requests count once. */
  batches: number;
  kernels: number;
  kernelsPerInference: number;
  longestKernelMs: number;
  lastInferenceMs: number;
  chargedMs: number;
  /** GPU time measured by timestamp queries (sessions with `gpuTiming` on webgpu), ms; else 0. */
  gpuMs: number;
  /**
   * webgpu `strict`: how often the session waited for the GPU to finish its work before the token went on
   * (at quantum boundaries between layers, and at inference ends), and for how long in all, ms; else 0.
   */
  gpuWaits: number;
  gpuWaitMs: number;
  /** Time it held a token inside units of work, ms: what the device's tokens did for it. */
  busyMs: number;
  liveTensors: number;
  baselineTensors: number;
  heapUsedMb: number;
  restarts: number;
  errors: Partial<Record<ErrorCode, number>>;
  /** Requests with a deadline: answered within it, answered late, shed on arrival, dropped while queued. */
  deadlines: DeadlineCounts;
}

/** Requests handed to the worker at once: one running, one staged (see session.worker.ts). */
const kStaged = 2;
/**
 * V8's young generation per session thread, MiB. Its default (up to 48 MiB of semi-spaces) stays resident in
 * every thread. Smaller saves memory but scavenges more often, inside inferences: 4 MiB saved ~20 MiB more
 * per session than 16 but added ~1 ms to a 25 ms GoogLeNet request, where 16 cost ~0.1 ms over the default
 * (bench/results/scale.md, latency.md; BENCHMARKS.md has the trade).
 */
const kYoungGenerationMb = 16;
/** How long a closing session waits for its thread to release the device, ms. */
const kShutdownTimeoutMs = 5000;

export class Session {
  readonly name: string;
  readonly #options: SessionOptions;
  readonly #arbiter: DeviceArbiter | null;
  readonly #stats = new Float64Array(newSessionStatsBuffer());
  readonly #backlog = new Int32Array(new SharedArrayBuffer(4));
  readonly #queue = new RequestQueue();
  readonly #latency = new LatencyWindow();
  readonly #errors: Partial<Record<ErrorCode, number>> = {};
  readonly #deadlines: DeadlineBook;
  #grant: TokenGrant | null;
  #pool: Piscina | null = null;
  #info: SessionInfo | null = null;
  /** Batches dispatched to the worker: the one running and the one staged behind it. */
  readonly #inFlight: Pending[][] = [];
  #batchTimer: NodeJS.Timeout | null = null;
  #state: SessionState = 'starting';
  #restarts = 0;
  #crashesInARow = 0;
  #restartTimer: NodeJS.Timeout | null = null;
  #idle: Array<() => void> = [];
  #leaveDevice: (() => void) | null;

  private constructor(arbiter: DeviceArbiter | null, options: SessionOptions) {
    this.name = options.name;
    this.#options = options;
    this.#arbiter = arbiter;
    this.#deadlines = new DeadlineBook({
      maxBatch: options.maxBatch ?? 1,
      inFlight: this.#inFlight,
      queue: this.#queue,
      chargedMs: () => this.#stats[kChargedMsField],
      device: options.device,
      weight: () => (this.#grant && this.#arbiter ? this.#arbiter.weightOf(this.#grant.slot) : (options.weight ?? 1)),
      onOutcome: options.onOutcome,
    });
    this.#leaveDevice = options.device?.join(this.#deadlines) ?? null;
    const label = options.instance ? `${options.name}#${options.instance}` : options.name;
    this.#grant = arbiter
      ? arbiter.register({ name: label, weight: options.weight, priority: options.priority, account: options.account })
      : null;
  }

  /** Starts the thread, loads and warms the model; rejects (and cleans up) if the session cannot start. */
  static async start(arbiter: DeviceArbiter | null, options: SessionOptions): Promise<Session> {
    const session = new Session(arbiter, options);
    try {
      await session.#startPool();
    } catch (error) {
      await session.close({ drain: false });
      throw error;
    }
    return session;
  }

  get info(): SessionInfo {
    if (!this.#info) throw Errors.unavailable('the session has not started', this.name);
    return this.#info;
  }

  /** What the session reported once warm, or null before it ever was. */
  get infoOrNull(): SessionInfo | null {
    return this.#info;
  }

  get state(): SessionState {
    return this.#state;
  }

  get slot(): number {
    return this.#grant?.slot ?? -1;
  }

  /** The model's account on the arbiter (-1 without one): a sibling instance joins it. */
  get account(): number {
    return this.#grant?.account ?? -1;
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
    options: { signal?: AbortSignal; deadlineAtMs?: number; priority?: number; admission?: AdmissionMode } = {},
  ): Promise<NamedTensors> {
    const { signal, deadlineAtMs, priority = 0, admission = 'start' } = options;
    return new Promise<NamedTensors>((resolve, reject) => {
      const fail = (error: OlympianError) => {
        this.#count(error.code);
        reject(error);
      };
      if (this.#state !== 'ready') return fail(Errors.unavailable(`session is ${this.#state}`, this.name));
      if (signal?.aborted) return fail(Errors.cancelled(this.name));
      if (this.#queue.length >= (this.#options.maxQueue ?? 64) && this.#inFlight.length >= kStaged) {
        return fail(Errors.queueFull(this.name, this.#queue.length));
      }
      const rows = batchSizeOf(inputs);
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
        dispatchedAtMs: 0,
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
  async killThread(): Promise<void> {
    const thread = this.#pool?.threads[0];
    if (!thread) throw Errors.unavailable(`session is ${this.#state}`, this.name);
    await thread.terminate();
  }

  /** Full GC in the session's thread, then its live tensors and heap; queued behind running work. */
  async collect(): Promise<MemoryReport> {
    if (!this.#pool || this.#state !== 'ready') throw Errors.unavailable(`session is ${this.#state}`, this.name);
    const reply = (await this.#pool.run({ type: 'collect' } satisfies SessionTask)) as SessionReply<MemoryReport>;
    if (!reply.ok) throw Errors.inSession(fromSerialized(reply.error), this.name);
    return reply.value;
  }

  stats(): SessionStats {
    const s = this.#stats;
    return {
      name: this.name,
      state: this.#state,
      slot: this.slot,
      backend: this.#info?.backend ?? null,
      accounting: this.#info?.accounting ?? null,
      queueDepth: this.#queue.length,
      latencyP50Ms: this.#latency.percentile(50),
      latencyP99Ms: this.#latency.percentile(99),
      inferences: s[kInferencesField],
      batches: s[kBatchesField],
      kernels: s[kKernelsField],
      kernelsPerInference: this.#info?.kernelsPerInference ?? 0,
      longestKernelMs: s[kLongestKernelMsField],
      lastInferenceMs: s[kLastInferenceMsField],
      chargedMs: s[kChargedMsField],
      gpuMs: s[kGpuMsField],
      gpuWaits: s[kGpuWaitsField],
      gpuWaitMs: s[kGpuWaitMsField],
      busyMs: s[kBusyMsField],
      liveTensors: s[kLiveTensorsField],
      baselineTensors: this.#info?.baselineTensors ?? 0,
      heapUsedMb: s[kHeapUsedMbField],
      restarts: this.#restarts,
      errors: { ...this.#errors },
      deadlines: { ...this.#deadlines.counts },
    };
  }

  /** Stops accepting work; with `drain`, finishes what is queued first, else fails it with UNAVAILABLE. */
  async close({ drain = true }: { drain?: boolean } = {}): Promise<void> {
    if (this.#state === 'closed') return;
    const wasRestarting = this.#state === 'restarting';
    this.#state = 'closing';
    if (this.#restartTimer) clearTimeout(this.#restartTimer);
    if (!drain || wasRestarting)
      for (const pending of this.#queue.drain())
        this.#settle(pending, Errors.unavailable('session is closing', this.name));
    this.#pump();
    if (this.#inFlight.length > 0 || this.#queue.length > 0)
      await new Promise<void>((resolve) => this.#idle.push(resolve));
    const pool = this.#pool;
    this.#pool = null;
    if (pool) {
      // Let the thread release its device before it is terminated (see shutdownWebgpu); bounded, in case
      // the thread is stuck.
      const shutdown = pool.run({ type: 'shutdown' } satisfies SessionTask).catch(() => {});
      await Promise.race([shutdown, new Promise((resolve) => setTimeout(resolve, kShutdownTimeoutMs).unref())]);
      await pool.destroy();
    }
    if (this.#grant) this.#arbiter?.unregister(this.#grant.slot);
    this.#grant = null;
    this.#leaveDevice?.();
    this.#state = 'closed';
  }

  async #startPool(): Promise<void> {
    const source = workerSource('./session.worker.js', import.meta.url);
    const data: SessionWorkerData = {
      name: this.name,
      model: this.#options.model,
      backend: this.#options.backend ?? 'auto',
      grant: this.#grant,
      stats: this.#stats.buffer as SharedArrayBuffer,
      backlog: this.#backlog.buffer as SharedArrayBuffer,
      gateMode: this.#options.gateMode ?? 'overlap',
      accounting: this.#options.accounting ?? 'measured',
      profile: this.#options.profile,
      autoProfile: this.#options.autoProfile ?? false,
      gpuTiming: this.#options.gpuTiming ?? false,
      executionProviders: this.#options.executionProviders,
      intraOpThreads: this.#options.intraOpThreads,
      segmentMs: this.#options.segmentMs,
      warmupInputs: this.#options.warmupInputs,
      maxBatch: this.#options.maxBatch,
    };
    const pool = new Piscina({
      filename: source.filename.href,
      workerData: { ...data, ...source.workerData },
      minThreads: 1,
      maxThreads: 1,
      concurrentTasksPerWorker: kStaged,
      idleTimeout: Infinity,
      // Kernels block the thread anyway; async atomics keep the worker's event loop free between tasks.
      atomics: 'async',
      resourceLimits: { maxYoungGenerationSizeMb: kYoungGenerationMb },
    });
    this.#pool = pool;
    pool.on('error', (error: Error) => this.#onCrash(pool, error.message));
    pool.on('workerDestroy', () => this.#onCrash(pool, 'its worker thread exited'));
    const reply = (await pool.run({ type: 'warmup' } satisfies SessionTask)) as SessionReply<SessionInfo>;
    if (!reply.ok) throw Errors.inSession(fromSerialized(reply.error), this.name);
    this.#info = reply.value;
    this.#deadlines.warm(reply.value.runCostLine);
    this.#state = 'ready';
    this.#crashesInARow = 0;
  }

  #pump(): void {
    if (this.#batchTimer) clearTimeout(this.#batchTimer);
    this.#batchTimer = null;
    if (this.#state === 'starting' || this.#state === 'restarting' || !this.#pool) return;
    const now = nowMs();
    for (const late of this.#deadlines.expire(now)) {
      const why =
        late.deadlineAtMs! < now ? 'the deadline passed while queued' : 'dropped: it can no longer be in time';
      this.#settle(late, Errors.deadlineExceeded(this.name, why));
    }
    const maxBatch = this.#options.maxBatch ?? 1;
    while (this.#inFlight.length < kStaged && this.#queue.length > 0) {
      const waitUs = (this.#options.batchWindowUs ?? 0) - (now - this.#queue.oldestEnqueuedAtMs) * 1000;
      if (maxBatch > 1 && waitUs > 0 && this.#queue.rowsBatchableWithHead() < maxBatch && this.#state !== 'closing') {
        this.#batchTimer = setTimeout(() => this.#pump(), Math.max(1, waitUs / 1000));
        break;
      }
      this.#dispatch(this.#pool, this.#queue.takeBatch(maxBatch));
    }
    if (this.#inFlight.length === 0 && this.#queue.length === 0) for (const resolve of this.#idle.splice(0)) resolve();
  }

  #dispatch(pool: Piscina, batch: Pending[]): void {
    this.#inFlight.push(batch);
    batch[0].dispatchedAtMs = nowMs();
    const task: SessionTask = {
      type: 'infer',
      batch: batch.map((p) => ({
        inputs: p.inputs,
        claim: p.claim.buffer as SharedArrayBuffer,
        deadlineAtMs: p.deadlineAtMs,
      })),
    };
    // Each buffer once: two requests may share one (a caller's `transfer: true` of the same array twice), and
    // a transfer list that names a buffer twice fails the whole post.
    const transferList = [...new Set(batch.flatMap((p) => transferablesOf(p.inputs)))];
    pool.run(task, { transferList: transferList as never }).then(
      (reply: SessionReply<SessionReply<NamedTensors>[]>) => {
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
        if (error?.name !== 'DataCloneError') return this.#onCrash(pool, error.message);
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

  /**
   * Once per pool: fail what it held, reclaim the token, and start a fresh pool after a backoff. A session
   * whose first start failed is not restarted: `start()` reports that failure to its caller.
   */
  #onCrash(pool: Piscina, why: string): void {
    if (pool !== this.#pool || this.#state === 'closing' || this.#state === 'closed') return;
    const firstStart = this.#info === null;
    this.#pool = null;
    this.#state = 'restarting';
    this.#restarts++;
    if (this.#grant) this.#arbiter?.reclaim(this.#grant.slot);
    // The thread may have left word of why it ended itself.
    const gpuLost = this.#stats[kExitReasonField] === kExitGpuLost;
    this.#stats[kExitReasonField] = 0;
    const crashed = Errors.sessionCrashed(
      this.name,
      gpuLost ? 'its GPU device was lost; it restarts on a new one' : why,
    );
    const victims = [...this.#inFlight.splice(0).flat(), ...this.#queue.drain()];
    for (const pending of victims) this.#settle(pending, crashed);
    void pool.destroy().catch(() => {});
    if (!firstStart) this.#scheduleRestart();
  }

  #scheduleRestart(): void {
    const base = this.#options.restartBackoffMs ?? 100;
    const delayMs = Math.min(this.#options.restartMaxMs ?? 10_000, base * 2 ** this.#crashesInARow++);
    this.#restartTimer = setTimeout(() => void this.#restart(), delayMs);
  }

  async #restart(): Promise<void> {
    this.#restartTimer = null;
    if (this.#state !== 'restarting') return;
    if (this.#grant && this.#arbiter) this.#grant = this.#arbiter.revive(this.#grant.slot);
    this.#state = 'starting';
    try {
      await this.#startPool();
      this.#pump();
    } catch {
      // A thread that crashed while warming up was handled by #onCrash already (the state says so); one that
      // answered its warm-up with an error is a failed restart all the same, and so is a pool never made.
      if (this.#state !== 'starting') return;
      if (this.#pool) this.#onCrash(this.#pool, 'restart failed');
      else {
        this.#state = 'restarting';
        this.#scheduleRestart();
      }
    }
  }

  #count(code: ErrorCode): void {
    this.#errors[code] = (this.#errors[code] ?? 0) + 1;
  }
}
