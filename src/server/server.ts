/**
 * The embedding API: one device arbiter, and per model one or more sessions (worker threads, its instances)
 * on one account of it, behind `infer`. Requests are checked against the model's signature before they are
 * queued; stats read shared memory and never wait behind an inference (server-stats.ts). The models
 * themselves, and the memory budget they share, are kept by model-set.ts.
 */
import { availableParallelism } from 'node:os';
import type { MessagePort } from 'node:worker_threads';
import { DeviceArbiter } from '../arbiter/arbiter.js';
import { nowMs } from '../arbiter/clock.js';
import type { PolicyName } from '../arbiter/layout.js';
import type { TraceRecord } from '../arbiter/trace.js';
import { hasHardwareGpu } from '../device/webgpu-adapter.js';
import { Errors } from '../protocol/errors.js';
import type { NamedTensors } from '../protocol/tensors.js';
import { DeviceBook } from '../workers/device-book.js';
import type { AdmissionMode, DeadlineOutcome } from '../workers/service-time.js';
import { validateBudget, type Budget } from './budget.js';
import { resolveConfig, type ResolvedConfig, type ServerOptions, type SessionConfig } from './config.js';
import { checkInferOptions, type InferOptions } from './infer-options.js';
import { admitInputs, checkRequest, checkSplittable, requestRows, type InferInputs } from './inputs.js';
import type { ServedModel } from './model.js';
import { ModelSet } from './model-set.js';
import { inferInPieces, splitRows } from './pieces.js';
import { exposeServer } from './rpc.js';
import { serverStats, type ServerStats } from './server-stats.js';
import { TokenDemand } from './token-demand.js';

export type { InferOptions } from './infer-options.js';
export type { InstanceStats, ServerSessionStats } from './model.js';
export type { ServerStats } from './server-stats.js';
export type { AdmissionMode, DeadlineCounts, DeadlineOutcome } from '../workers/service-time.js';

/** A request with a deadline ended: `predictionErrorMs` is answered minus predicted (answered ones only). */
export type OutcomeListener = (model: string, outcome: DeadlineOutcome, predictionErrorMs: number | undefined) => void;

export class Server {
  readonly #config: ResolvedConfig;
  readonly #arbiter: DeviceArbiter;
  readonly #models: ModelSet;
  readonly #ports = new Set<MessagePort>();
  readonly #demand = new TokenDemand();
  #closing = false;
  #closed: Promise<void> | null = null;
  #closingModels: ServedModel[] = [];
  readonly #outcomeListeners = new Set<OutcomeListener>();

  private constructor(config: ResolvedConfig) {
    this.#config = config;
    // Sessions run at once on as many tokens as there are, and never on more threads than cores.
    const cores = availableParallelism();
    const device = new DeviceBook(config.arbiter ? Math.min(config.tokens, cores) : cores);
    this.#arbiter = new DeviceArbiter({
      policy: config.policy,
      quantumMs: config.quantumMs,
      tokens: config.tokens,
      windowMs: config.windowMs,
      lagQuanta: config.lagQuanta,
    });
    this.#models = new ModelSet(this.#arbiter, config, {
      device,
      onLoad: () => this.#demandChanged(),
      onOutcome: (...event) => {
        for (const listener of this.#outcomeListeners) listener(...event);
      },
    });
  }

  /** Resolves once every session is warm; rejects naming the first session that failed (and stops the rest). */
  static async create(options: ServerOptions = {}): Promise<Server> {
    const config = resolveConfig(options);
    // 'auto' means the GPU when this machine has a hardware adapter: probed once, here, not in every worker.
    if (config.backend === 'auto' && (await hasHardwareGpu())) config.backend = 'webgpu';
    const server = new Server(config);
    try {
      for (const [i, config] of server.#config.sessions.entries()) await server.#models.start(config, `sessions[${i}]`);
    } catch (error) {
      await server.close({ drain: false });
      throw error;
    }
    return server;
  }

  get models(): string[] {
    return this.#models.names;
  }

  /** The model's signature (input and output names, dtypes, shapes). */
  signature(name: string) {
    return this.#models.get(name).info.signature;
  }

  /** What an instance reported once warm: backend and adapter, signature, accounting, thread id. */
  sessionInfo(name: string, instance = 0) {
    return this.#models.get(name).instance(instance).info;
  }

  infer(name: string, inputs: InferInputs, options: InferOptions = {}): Promise<NamedTensors> {
    try {
      if (this.#closing) throw Errors.unavailable('the server is closing');
      const model = this.#models.get(name);
      const { config, info } = model;
      const { deadlineMs, priority, transfer, signal } = checkInferOptions(options, config.deadlineMs);
      const checked = checkRequest(info.signature, inputs, this.#config.maxRequestBytes);
      model.checkBudget();
      const rows = requestRows(info.signature, checked);
      if (config.maxBatch !== undefined) checkSplittable(info.signature, rows, config.maxBatch);
      const release = config.maxBatch === undefined ? this.#models.admitRows(model, rows) : () => {};
      const owned = admitInputs(info.signature, checked, transfer);
      const deadlineAtMs = deadlineMs === undefined ? undefined : nowMs() + deadlineMs;
      const queued = { priority, deadlineAtMs, admission: this.admission };
      const answer =
        config.maxBatch !== undefined && rows > config.maxBatch
          ? inferInPieces(splitRows(owned, config.maxBatch), signal, (piece, pieceSignal) =>
              model.route().infer(piece, { ...queued, signal: pieceSignal }),
            )
          : model.route().infer(owned, { ...queued, rows, signal });
      return answer.finally(release);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  stats(): ServerStats {
    return serverStats(this.#arbiter, this.#models, {
      config: this.#config,
      admission: this.admission,
      demand: this.#demand,
    });
  }

  setWeight(name: string, weight: number): void {
    this.#arbiter.setWeight(this.#models.get(name).slot, weight);
  }

  setPriority(name: string, priority: number): void {
    this.#arbiter.setPriority(this.#models.get(name).slot, priority);
  }

  /**
   * Sets (or with null lifts) the model's device-time budget; a new budget starts full. A bad one is the
   * caller's INVALID_ARGUMENT naming `budget.<key>`. Requests already admitted run on either way.
   */
  setBudget(name: string, budget: Budget | null): void {
    const model = this.#models.get(name);
    if (budget !== null && !this.#config.arbiter)
      throw Errors.invalidArgument('budget', 'needs the arbiter (this server runs with arbiter: false)');
    model.setBudget(
      budget === null ? null : validateBudget(budget, 'budget', this.#config.tokens, Errors.invalidArgument),
    );
  }

  setPolicy(policy: PolicyName): void {
    this.#arbiter.setPolicy(policy);
  }

  /** How requests with deadlines are admitted now: the configured mode, else by the policy (see ServerOptions). */
  get admission(): AdmissionMode {
    return (
      this.#config.admission ?? (this.#config.arbiter && this.#arbiter.policy === 'deadline' ? 'predicted' : 'start')
    );
  }

  /** Calls `listener` as each request with a deadline ends (answered in time or late, shed, dropped); returns its removal. */
  onDeadlineOutcome(listener: OutcomeListener): () => void {
    this.#outcomeListeners.add(listener);
    return () => this.#outcomeListeners.delete(listener);
  }

  setQuantum(quantumMs: number): void {
    this.#arbiter.setQuantum(quantumMs);
  }

  /** `deadline`'s bound on how far a backlogged model may fall behind its weighted share, in quanta. */
  setLagQuanta(lagQuanta: number): void {
    this.#arbiter.setLagQuanta(lagQuanta);
  }

  /** Records every token grant and release from now on (see `readTrace`); the last 8,192 events are kept. */
  setTracing(on: boolean): void {
    this.#arbiter.setTracing(on);
  }

  /** The token trace: which session held the device when (times on the `nowMs()` clock). */
  readTrace(): { events: TraceRecord[]; dropped: number } {
    return this.#arbiter.readTrace();
  }

  /**
   * Starts, warms and admits a new model (every instance); RESOURCE_EXHAUSTED if it does not fit the memory
   * budget. `field` is where the caller's configuration holds it (`models[2]`): errors name its keys under it.
   */
  async addSession(config: SessionConfig, field = 'session'): Promise<void> {
    if (this.#closing) throw Errors.unavailable('the server is closing');
    await this.#models.add(config, field);
  }

  /** Fault injection: kills an instance's thread as a crash would (see Session.killThread); its siblings serve on. */
  killSessionThread(name: string, instance = 0): Promise<void> {
    return this.#models.get(name).instance(instance).killThread();
  }

  /** Full GC in an instance's thread, then its live tensors and heap (memory checks, soak runs). */
  collect(name: string, instance = 0) {
    return this.#models.get(name).instance(instance).collect();
  }

  /** Drains the model's queues (every instance's), then stops its threads and frees its slots. */
  removeSession(name: string): Promise<void> {
    return this.#models.remove(name);
  }

  /** A MessagePort to hand to another worker thread; `connectClient(port)` there gives infer/stats. */
  connect(): MessagePort {
    if (this.#closing) throw Errors.unavailable('the server is closing');
    const port = exposeServer(this);
    this.#ports.add(port.local);
    port.local.once('close', () => this.#ports.delete(port.local));
    return port.remote;
  }

  /** Stops accepting work; with `drain` (default) finishes what is queued, else fails it with UNAVAILABLE. */
  close({ drain = true }: { drain?: boolean } = {}): Promise<void> {
    this.#closing = true;
    if (this.#closed) {
      // A second call without drain hurries a drained close under way: what is still queued fails now.
      if (!drain) for (const model of this.#closingModels) void model.close({ drain: false });
      return this.#closed;
    }
    this.#closingModels = this.#models.takeAll();
    this.#closed = (async () => {
      await Promise.all(this.#closingModels.map((model) => model.close({ drain })));
      for (const port of this.#ports) port.close();
      this.#ports.clear();
      this.#arbiter.close();
    })();
    return this.#closed;
  }

  #demandChanged(): void {
    this.#demand.set(Math.min(this.#config.tokens, this.#models.demand));
  }
}

/** Starts a server: every session's thread is up and its model warm when this resolves. */
export function createServer(options: ServerOptions = {}): Promise<Server> {
  return Server.create(options);
}
