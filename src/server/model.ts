/**
 * One served model: its instances (session threads, each with its own queue and batching) on one account
 * of the device arbiter. Requests go to an idle instance first, then to the one with the fewest waiting or
 * running; stats add the instances up into one row per model, each instance's own row nested in it. A model
 * with a device-time budget refuses requests on arrival while the budget is in debt (budget.ts).
 */
import type { DeviceArbiter } from '../arbiter/arbiter.js';
import { nowMs } from '../arbiter/clock.js';
import type { AccountTokenStats, ArbiterStats, SessionTokenStats } from '../arbiter/stats.js';
import { Errors, type ErrorCode } from '../protocol/errors.js';
import type { SessionInfo } from '../protocol/session-messages.js';
import { LatencyWindow } from '../workers/latency.js';
import { Session } from '../workers/session.js';
import type { SessionOptions } from '../workers/session-options.js';
import type { SessionStats } from '../workers/session-stats.js';
import type { SessionState } from '../workers/session-thread.js';
import { BudgetBucket, type Budget } from './budget.js';
import { batchlessInputs, batchlessPhrase } from './inputs.js';
import type { SessionConfig } from './config.js';
import { deadlineOutcomes, noDeadlineCounts, type DeadlineOutcome } from '../workers/service-time.js';

/** What the server sets for every session: the backend, where profiles are, and its listeners. */
export type ServerSessionOptions = Pick<SessionOptions, 'backend' | 'profile' | 'onLoad' | 'device'> & {
  onOutcome?: (model: string, outcome: DeadlineOutcome, predictionErrorMs: number | undefined) => void;
};

/** A token's view of one instance, beside the session's own stats. */
export interface InstanceStats
  extends SessionStats,
    Pick<SessionTokenStats, 'grants' | 'waits' | 'waitTotalMs' | 'waitMaxMs'> {
  instance: number;
  /** The instance's kernel thread id: benches read its CPU time from /proc/self/task/<tid>. */
  tid: number;
  /** Its part of the model's charged device time, over every instance on the device. */
  share: number;
  intervalMaxMs: number;
}

/** A model's row: its instances added up (counts summed, maxima of maxima), its account's share, and each instance. */
export interface ServerSessionStats
  extends Omit<InstanceStats, 'instance' | 'tid'>,
    Pick<AccountTokenStats, 'weight' | 'priority' | 'decayedShare'> {
  /** Estimated resident size of all its instances: weights plus activations at maxBatch, MiB. */
  residentMb: number;
  /** Its device-time budget (null: none), the bucket's balance now (ms, negative in debt), and requests refused. */
  budget: Budget | null;
  budgetBalanceMs: number | null;
  refusedOverBudget: number;
  instances: InstanceStats[];
}

/** A model is as ready as its least ready instance. */
const stateOrder: SessionState[] = ['closed', 'closing', 'starting', 'restarting', 'ready'];

export class ServedModel {
  readonly name: string;
  readonly config: SessionConfig;
  readonly instances: Session[];
  readonly #arbiter: DeviceArbiter | null;
  #bucket: BudgetBucket | null = null;
  #refusedOverBudget = 0;

  private constructor(arbiter: DeviceArbiter | null, config: SessionConfig, instances: Session[]) {
    this.name = config.name;
    this.config = config;
    this.instances = instances;
    this.#arbiter = arbiter;
    this.setBudget(config.budget ?? null);
  }

  /** Starts every instance (the first opens the model's account, the rest join it); all warm, or none left. */
  static async start(
    arbiter: DeviceArbiter | null,
    config: SessionConfig,
    { onLoad, onOutcome, ...server }: ServerSessionOptions,
  ): Promise<ServedModel> {
    const { instances: count = 1, budget: _budget, ...options } = config;
    let served: ServedModel | null = null;
    // Every change to a queue may change the model's most urgent request, which the `deadline` policy reads.
    const hooks: Pick<SessionOptions, 'onLoad' | 'onOutcome'> = {
      onLoad: () => {
        if (served && arbiter) served.#publishHead(arbiter);
        onLoad?.();
      },
      onOutcome: (outcome, errorMs) => onOutcome?.(config.name, outcome, errorMs),
    };
    const session = { ...options, ...server, ...hooks };
    const first = await Session.start(arbiter, { ...session, instance: 0 });
    const batchless = batchlessInputs(first.info.signature);
    if ((config.maxBatch ?? 1) > 1 && batchless.length > 0) {
      await first.close({ drain: false });
      throw Errors.invalidConfig(
        'maxBatch',
        `is ${config.maxBatch}, but the model's ${batchlessPhrase(batchless)} no batch (a fixed axis 0, ` +
          'or rank 0), so its requests cannot be joined: leave maxBatch at 1',
      );
    }
    const rest = await Promise.allSettled(
      Array.from({ length: count - 1 }, (_, i) =>
        Session.start(arbiter, { ...session, account: first.account, instance: i + 1 }),
      ),
    );
    const started = [first, ...rest.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []))];
    const failed = rest.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      await Promise.all(started.map((instance) => instance.close({ drain: false })));
      throw failed.reason;
    }
    served = new ServedModel(arbiter, config, started);
    return served;
  }

  #publishHead(arbiter: DeviceArbiter): void {
    let deadlineAtMs = Infinity;
    let costMs = 0;
    for (const instance of this.instances) {
      const head = instance.head;
      if (head.deadlineAtMs < deadlineAtMs) ({ deadlineAtMs, costMs } = head);
    }
    arbiter.publishHead(this.instances[0].account, deadlineAtMs, costMs);
  }

  get info(): SessionInfo {
    return this.instances[0].info;
  }

  /** A slot of the model's account: weight and priority changes through it apply to every instance. */
  get slot(): number {
    return this.instances[0].slot;
  }

  get residentMb(): number {
    const { weightsMb, activationsMbPerItem } = this.info;
    return (weightsMb + activationsMbPerItem * (this.config.maxBatch ?? 1)) * this.instances.length;
  }

  /** The instance for the next request: an idle ready one, else the ready one with the fewest requests. */
  route(): Session {
    let best: Session | null = null;
    for (const instance of this.instances) {
      if (instance.state !== 'ready') continue;
      if (instance.load === 0) return instance;
      if (!best || instance.load < best.load) best = instance;
    }
    // None ready: the first says why (starting, restarting, closing) when asked to infer.
    return best ?? this.instances[0];
  }

  instance(index: number): Session {
    const instance = Number.isSafeInteger(index) ? this.instances[index] : undefined;
    if (!instance) throw Errors.notFound('instance', `${this.name}#${index}`);
    return instance;
  }

  /** Instances with requests waiting or running: each could use a token now. */
  get demand(): number {
    return this.instances.reduce((sum, instance) => sum + (instance.load > 0 ? 1 : 0), 0);
  }

  /** Device time charged to the model's account, ms (a server without the arbiter charges none: no budgets). */
  get chargedMs(): number {
    return this.#arbiter ? this.#arbiter.chargedMs(this.slot) : 0;
  }

  /** A new budget starts full and counts only what is charged from now on; null lifts it. */
  setBudget(budget: Budget | null): void {
    this.#bucket = budget ? new BudgetBucket(budget, nowMs(), this.chargedMs) : null;
  }

  /** On a request's arrival, before any queue: QUOTA_EXCEEDED while the budget is in debt. */
  checkBudget(): void {
    const bucket = this.#bucket;
    if (!bucket) return;
    const balanceMs = bucket.update(nowMs(), this.chargedMs);
    if (balanceMs >= 0) return;
    this.#refusedOverBudget++;
    const { deviceMsPerSec, burstMs } = bucket.budget;
    throw Errors.quotaExceeded(
      this.name,
      `${(-balanceMs).toFixed(3)} ms of device time in debt (budget ${deviceMsPerSec} ms/s, burst ${burstMs} ms)`,
      bucket.retryAfterMs,
    );
  }

  close(options: { drain: boolean }): Promise<void> {
    return Promise.all(this.instances.map((instance) => instance.close(options))).then(() => {});
  }

  stats(arbiter: Pick<ArbiterStats, 'sessions' | 'accounts'>): ServerSessionStats {
    const bySlot = new Map(arbiter.sessions.map((row) => [row.slot, row]));
    const rows: InstanceStats[] = this.instances.map((session, instance) => {
      const token = bySlot.get(session.slot);
      return {
        ...session.stats(),
        instance,
        tid: session.infoOrNull?.tid ?? 0,
        share: token?.share ?? 0,
        grants: token?.grants ?? 0,
        waits: token?.waits ?? 0,
        waitTotalMs: token?.waitTotalMs ?? 0,
        waitMaxMs: token?.waitMaxMs ?? 0,
        intervalMaxMs: token?.holdMaxMs ?? 0,
      };
    });
    const account = arbiter.accounts.find((row) => row.slots.includes(this.slot));
    const sum = (key: keyof InstanceStats) => rows.reduce((total, row) => total + (row[key] as number), 0);
    const max = (key: keyof InstanceStats) => Math.max(...rows.map((row) => row[key] as number));
    const errors: Partial<Record<ErrorCode, number>> = {};
    for (const row of rows)
      for (const [code, n] of Object.entries(row.errors))
        errors[code as ErrorCode] = (errors[code as ErrorCode] ?? 0) + (n ?? 0);
    const deadlines = noDeadlineCounts();
    for (const row of rows) for (const outcome of deadlineOutcomes) deadlines[outcome] += row.deadlines[outcome];
    const first = rows[0];
    return {
      deadlines,
      name: this.name,
      state: stateOrder.find((state) => rows.some((row) => row.state === state)) ?? 'ready',
      slot: first.slot,
      backend: first.backend,
      accounting: first.accounting,
      queueDepth: sum('queueDepth'),
      latencyP50Ms: LatencyWindow.percentileOf(
        this.instances.map((s) => s.latency),
        50,
      ),
      latencyP99Ms: LatencyWindow.percentileOf(
        this.instances.map((s) => s.latency),
        99,
      ),
      inferences: sum('inferences'),
      batches: sum('batches'),
      kernels: sum('kernels'),
      kernelsPerInference: first.kernelsPerInference,
      longestKernelMs: max('longestKernelMs'),
      lastInferenceMs: max('lastInferenceMs'),
      chargedMs: account?.chargedMs ?? sum('chargedMs'),
      gpuMs: sum('gpuMs'),
      gpuWaits: sum('gpuWaits'),
      gpuWaitMs: sum('gpuWaitMs'),
      busyMs: sum('busyMs'),
      liveTensors: sum('liveTensors'),
      baselineTensors: sum('baselineTensors'),
      heapUsedMb: sum('heapUsedMb'),
      restarts: sum('restarts'),
      errors,
      weight: account?.weight ?? this.config.weight ?? 1,
      priority: account?.priority ?? this.config.priority ?? 0,
      share: account?.share ?? 0,
      decayedShare: account?.decayedShare ?? 0,
      grants: sum('grants'),
      waits: sum('waits'),
      waitTotalMs: sum('waitTotalMs'),
      waitMaxMs: max('waitMaxMs'),
      intervalMaxMs: max('intervalMaxMs'),
      residentMb: this.residentMb,
      budget: this.#bucket ? { ...this.#bucket.budget } : null,
      budgetBalanceMs: this.#bucket ? this.#bucket.update(nowMs(), this.chargedMs) : null,
      refusedOverBudget: this.#refusedOverBudget,
      instances: rows,
    };
  }
}
