/**
 * The embedding API: one device arbiter, and per model one or more sessions (worker threads, its instances)
 * on one account of it, behind `infer`. Requests are checked against the model's signature before they are
 * queued; stats read shared memory and never wait behind an inference.
 */
import { availableParallelism } from 'node:os';
import type { MessagePort } from 'node:worker_threads';
import { DeviceArbiter } from '../arbiter/arbiter.js';
import { nowMs } from '../arbiter/clock.js';
import type { PolicyName } from '../arbiter/layout.js';

import type { TraceRecord } from '../arbiter/trace.js';
import { Errors, OlympianError } from '../protocol/errors.js';
import type { NamedTensors } from '../protocol/tensors.js';
import { validateBudget, type Budget } from './budget.js';
import { ServedModel, type ServerSessionStats } from './model.js';
import {
  checkSessionCount,
  resolveConfig,
  sessionConfigKeys,
  validateSessionConfig,
  type ResolvedConfig,
  type ServerOptions,
  type SessionConfig,
} from './config.js';
import { admitInputs, checkRequest, requestRows, type InferInputs } from './inputs.js';
import { checkGpuProviders } from './onnx-options.js';
import { inferInPieces, splitRows } from './pieces.js';
import { exposeServer } from './rpc.js';
import { TokenDemand } from './token-demand.js';
import { hasHardwareGpu } from '../device/webgpu-adapter.js';
import { DeviceBook } from '../workers/device-book.js';
import type { AdmissionMode, DeadlineOutcome } from '../workers/service-time.js';

export interface InferOptions {
  signal?: AbortSignal;
  /**
   * Give up (DEADLINE_EXCEEDED) if the model has not started within this many ms (default: the model's
   * `deadlineMs`, if any); under predicted admission, also if it is predicted to be answered later.
   */
  deadlineMs?: number;
  /** Order within the session's queue: higher first. */
  priority?: number;
  /**
   * Zero-copy: the server takes the buffers of the input arrays that span a whole buffer, leaving the
   * caller's arrays detached (empty) once `infer` returns. Default false: the inputs are copied and the
   * caller's arrays stay as they were.
   */
  transfer?: boolean;
}

export type { InstanceStats, ServerSessionStats } from './model.js';
export type { AdmissionMode, DeadlineCounts, DeadlineOutcome } from '../workers/service-time.js';

/** A request with a deadline ended: `predictionErrorMs` is answered minus predicted (answered ones only). */
export type OutcomeListener = (model: string, outcome: DeadlineOutcome, predictionErrorMs: number | undefined) => void;

export interface ServerStats {
  device: ResolvedConfig['device'];
  backend: ResolvedConfig['backend'];
  policy: PolicyName;
  /** How requests with deadlines are admitted now (`predicted` by default under `deadline`). */
  admission: AdmissionMode;
  quantumMs: number;
  /** `deadline`: how many quanta of its weighted share a backlogged model may fall behind. */
  lagQuanta: number;
  tokens: number;
  handoffs: number;
  /**
   * Token time the work could have used (at each moment min(K, instances with requests waiting or running)),
   * what sessions held tokens for inside units of work, and the difference: time tokens stood idle while work
   * waited (dispatch and wake-up latency, a token kept between requests), ms since the server started.
   */
  tokenDemandMs: number;
  tokenBusyMs: number;
  tokenIdleMs: number;
  memoryBudgetMB: number;
  sessions: ServerSessionStats[];
}

export class Server {
  readonly #config: ResolvedConfig;
  readonly #arbiter: DeviceArbiter;
  readonly #models = new Map<string, ServedModel>();
  readonly #ports = new Set<MessagePort>();
  /** Memory taken by requests in flight beyond their sessions' admitted size (see #admitRows), MiB. */
  #inFlightExtraMb = 0;
  readonly #demand = new TokenDemand();
  /** busyMs of models removed since: the demand they made stays in the integral. */
  #busyMsOfRemoved = 0;
  #closing = false;
  #closed: Promise<void> | null = null;
  #closingModels: ServedModel[] = [];
  readonly #outcomeListeners = new Set<OutcomeListener>();
  readonly #device: DeviceBook;

  private constructor(config: ResolvedConfig) {
    this.#config = config;
    // Sessions run at once on as many tokens as there are, and never on more threads than cores.
    const cores = availableParallelism();
    this.#device = new DeviceBook(config.arbiter ? Math.min(config.tokens, cores) : cores);
    this.#arbiter = new DeviceArbiter({
      policy: config.policy,
      quantumMs: config.quantumMs,
      tokens: config.tokens,
      windowMs: config.windowMs,
      lagQuanta: config.lagQuanta,
    });
  }

  /** Resolves once every session is warm; rejects naming the first session that failed (and stops the rest). */
  static async create(options: ServerOptions = {}): Promise<Server> {
    const config = resolveConfig(options);
    // 'auto' means the GPU when this machine has a hardware adapter: probed once, here, not in every worker.
    if (config.backend === 'auto' && (await hasHardwareGpu())) config.backend = 'webgpu';
    const server = new Server(config);
    try {
      for (const [i, config] of server.#config.sessions.entries()) await server.#start(config, `sessions[${i}]`);
    } catch (error) {
      await server.close({ drain: false });
      throw error;
    }
    return server;
  }

  get models(): string[] {
    return [...this.#models.keys()];
  }

  /** The model's signature (input and output names, dtypes, shapes). */
  signature(name: string) {
    return this.#model(name).info.signature;
  }

  /** What an instance reported once warm: backend and adapter, signature, accounting, thread id. */
  sessionInfo(name: string, instance = 0) {
    return this.#model(name).instance(instance).info;
  }

  infer(name: string, inputs: InferInputs, options: InferOptions = {}): Promise<NamedTensors> {
    try {
      if (this.#closing) throw Errors.unavailable('the server is closing');
      const model = this.#model(name);
      const { config, info } = model;
      if (typeof options !== 'object' || options === null) throw Errors.invalidArgument('options', 'must be an object');
      const { deadlineMs = config.deadlineMs, priority = 0, transfer = false, signal } = options;
      if (deadlineMs !== undefined && !(Number.isFinite(deadlineMs) && deadlineMs > 0))
        throw Errors.invalidArgument('deadlineMs', 'must be a number > 0');
      if (!Number.isSafeInteger(priority)) throw Errors.invalidArgument('priority', 'must be an integer');
      if (typeof transfer !== 'boolean') throw Errors.invalidArgument('transfer', 'must be true or false');
      const checked = checkRequest(info.signature, inputs, this.#config.maxRequestBytes);
      model.checkBudget();
      const rows = requestRows(info.signature, checked);
      const release = config.maxBatch === undefined ? this.#admitRows(model, rows) : () => {};
      const owned = admitInputs(info.signature, checked, transfer);
      const deadlineAtMs = deadlineMs === undefined ? undefined : nowMs() + deadlineMs;
      const queued = { priority, deadlineAtMs, admission: this.admission };
      const answer =
        config.maxBatch !== undefined && rows > config.maxBatch
          ? inferInPieces(splitRows(owned, config.maxBatch), signal, (piece, pieceSignal) =>
              model.route().infer(piece, { ...queued, signal: pieceSignal }),
            )
          : model.route().infer(owned, { ...queued, signal });
      return answer.finally(release);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * A session without maxBatch runs each request whole, so memory admission counts the request's own items:
   * those beyond the one item the session was admitted with must fit in what the budget has left. Returns
   * what gives the room back once the request is answered.
   */
  #admitRows(model: ServedModel, rows: number): () => void {
    const extraMb = model.info.activationsMbPerItem * (rows - 1);
    if (!(extraMb > 0) || this.#config.memoryBudgetMB === Infinity) return () => {};
    const freeMb = this.#config.memoryBudgetMB - this.#reservedMb() - this.#inFlightExtraMb;
    if (extraMb > freeMb) {
      const input = model.info.signature.inputs[0]?.name ?? 'input';
      throw Errors.tooLarge(
        `inputs.${input}.shape[0]`,
        `is ${rows}: a batch that large needs ~${extraMb.toFixed(1)} MiB of activations beyond the model's admitted size, and ${Math.max(0, freeMb).toFixed(1)} MiB of memoryBudgetMB are free; send smaller batches, or set maxBatch so that large requests are split`,
      );
    }
    this.#inFlightExtraMb += extraMb;
    return () => (this.#inFlightExtraMb -= extraMb);
  }

  #reservedMb(): number {
    return [...this.#models.values()].reduce((sum, model) => sum + model.residentMb, 0);
  }

  stats(): ServerStats {
    const arbiter = this.#arbiter.stats();
    const sessions = [...this.#models.values()].map((model) => model.stats(arbiter));
    const tokenDemandMs = this.#demand.ms;
    const tokenBusyMs = this.#busyMsOfRemoved + sessions.reduce((sum, row) => sum + row.busyMs, 0);
    return {
      device: this.#config.device,
      backend: this.#config.backend,
      policy: arbiter.policy,
      admission: this.admission,
      quantumMs: arbiter.quantumMs,
      lagQuanta: this.#arbiter.lagQuanta,
      tokens: arbiter.tokens,
      handoffs: arbiter.handoffs,
      tokenDemandMs,
      tokenBusyMs,
      tokenIdleMs: Math.max(0, tokenDemandMs - tokenBusyMs),
      memoryBudgetMB: this.#config.memoryBudgetMB,
      sessions,
    };
  }

  setWeight(name: string, weight: number): void {
    this.#arbiter.setWeight(this.#model(name).slot, weight);
  }

  setPriority(name: string, priority: number): void {
    this.#arbiter.setPriority(this.#model(name).slot, priority);
  }

  /**
   * Sets (or with null lifts) the model's device-time budget; a new budget starts full. A bad one is the
   * caller's INVALID_ARGUMENT naming `budget.<key>`. Requests already admitted run on either way.
   */
  setBudget(name: string, budget: Budget | null): void {
    const model = this.#model(name);
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
    validateSessionConfig(config, field, this.#config);
    if (this.#models.has(config.name))
      throw Errors.invalidConfig(`${field}.name`, `duplicates ${JSON.stringify(config.name)}`);
    checkSessionCount(this.#config.backend, this.#sessionCount() + (config.instances ?? 1));
    await this.#start(config, field);
  }

  /** Fault injection: kills an instance's thread as a crash would (see Session.killThread); its siblings serve on. */
  killSessionThread(name: string, instance = 0): Promise<void> {
    return this.#model(name).instance(instance).killThread();
  }

  /** Full GC in an instance's thread, then its live tensors and heap (memory checks, soak runs). */
  collect(name: string, instance = 0) {
    return this.#model(name).instance(instance).collect();
  }

  /** Drains the model's queues (every instance's), then stops its threads and frees its slots. */
  async removeSession(name: string): Promise<void> {
    const model = this.#model(name);
    this.#models.delete(name);
    await model.close({ drain: true });
    this.#busyMsOfRemoved += model.instances.reduce((sum, instance) => sum + instance.stats().busyMs, 0);
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
    this.#closingModels = [...this.#models.values()];
    this.#models.clear();
    this.#closed = (async () => {
      await Promise.all(this.#closingModels.map((model) => model.close({ drain })));
      for (const port of this.#ports) port.close();
      this.#ports.clear();
      this.#arbiter.close();
    })();
    return this.#closed;
  }

  /** `field` is where the configuration names this model (`sessions[2]`): a failure to start names its key. */
  async #start(config: SessionConfig, field: string): Promise<void> {
    checkGpuProviders(config, this.#config, field);
    let model: ServedModel;
    try {
      const onLoad = () => this.#demandChanged();
      model = await ServedModel.start(this.#config.arbiter ? this.#arbiter : null, config, {
        backend: this.#config.backend,
        profile: this.#config.profiles,
        device: this.#device,
        onLoad,
        onOutcome: (...event) => {
          for (const listener of this.#outcomeListeners) listener(...event);
        },
      });
    } catch (error) {
      throw atConfigKey(error, field);
    }
    const usedMb = this.#reservedMb();
    const needMb = model.residentMb;
    if (usedMb + needMb > this.#config.memoryBudgetMB) {
      await model.close({ drain: false });
      throw Errors.overMemoryBudget(
        config.name,
        `~${needMb.toFixed(1)} MiB; ${usedMb.toFixed(1)} of memoryBudgetMB ${this.#config.memoryBudgetMB} are in use`,
      );
    }
    this.#models.set(config.name, model);
  }

  #demandChanged(): void {
    let demand = 0;
    for (const model of this.#models.values()) demand += model.demand;
    this.#demand.set(Math.min(this.#config.tokens, demand));
  }

  #sessionCount(): number {
    return [...this.#models.values()].reduce((sum, model) => sum + model.instances.length, 0);
  }

  #model(name: string): ServedModel {
    const model = typeof name === 'string' ? this.#models.get(name) : undefined;
    if (!model) throw Errors.notFound('model', String(name));
    return model;
  }
}

/** A worker knows a failing key by its name in the session's config (`model`); the caller knows where that sits. */
function atConfigKey(error: unknown, field: string): unknown {
  if (
    !(error instanceof OlympianError) ||
    error.field === undefined ||
    !sessionConfigKeys.has(error.field.split(/[.[]/)[0])
  )
    return error;
  return Errors.atField(error, `${field}.${error.field}`);
}

/** Starts a server: every session's thread is up and its model warm when this resolves. */
export function createServer(options: ServerOptions = {}): Promise<Server> {
  return Server.create(options);
}
