/**
 * The server's models by name, and the memory budget they share: a model is started (every instance) and
 * kept only if its resident size fits beside the others'; a request larger than its model was admitted for
 * runs only if its extra activations fit in what is left. Apart from server.ts, which answers the API and
 * owns the arbiter: this is where models come and go, and what they take.
 */
import type { DeviceArbiter } from '../arbiter/arbiter.js';
import type { ArbiterStats } from '../arbiter/stats.js';
import { Errors, OlympianError } from '../protocol/errors.js';
import {
  checkSessionCount,
  sessionConfigKeys,
  validateSessionConfig,
  type ResolvedConfig,
  type SessionConfig,
} from './config.js';
import { ServedModel, type ServerSessionOptions, type ServerSessionStats } from './model.js';
import { checkGpuProviders } from './onnx-options.js';

/** What every session gets from the server besides its backend and profiles: the device book and its listeners. */
export type SessionListeners = Pick<ServerSessionOptions, 'device' | 'onLoad' | 'onOutcome'>;

export class ModelSet {
  readonly #byName = new Map<string, ServedModel>();
  readonly #arbiter: DeviceArbiter;
  readonly #config: ResolvedConfig;
  readonly #listeners: SessionListeners;
  /** Memory taken by requests in flight beyond their sessions' admitted size (see admitRows), MiB. */
  #inFlightExtraMb = 0;
  /** busyMs of models removed since: the demand they made stays in the integral. */
  #busyMsOfRemoved = 0;

  constructor(arbiter: DeviceArbiter, config: ResolvedConfig, listeners: SessionListeners) {
    this.#arbiter = arbiter;
    this.#config = config;
    this.#listeners = listeners;
  }

  get names(): string[] {
    return [...this.#byName.keys()];
  }

  /** The model called `name`; NOT_FOUND if there is none. */
  get(name: string): ServedModel {
    const model = typeof name === 'string' ? this.#byName.get(name) : undefined;
    if (!model) throw Errors.notFound('model', String(name));
    return model;
  }

  /** Instances with requests waiting or running, over every model: each could use a token now. */
  get demand(): number {
    let demand = 0;
    for (const model of this.#byName.values()) demand += model.demand;
    return demand;
  }

  get busyMsOfRemoved(): number {
    return this.#busyMsOfRemoved;
  }

  stats(arbiter: Pick<ArbiterStats, 'sessions' | 'accounts'>): ServerSessionStats[] {
    return [...this.#byName.values()].map((model) => model.stats(arbiter));
  }

  /** Checks a model added at run time against the configuration rules and the others, then starts it. */
  async add(config: SessionConfig, field: string): Promise<void> {
    validateSessionConfig(config, field, this.#config);
    if (this.#byName.has(config.name))
      throw Errors.invalidConfig(`${field}.name`, `duplicates ${JSON.stringify(config.name)}`);
    checkSessionCount(this.#config.backend, this.#sessionCount() + (config.instances ?? 1));
    await this.start(config, field);
  }

  /** `field` is where the configuration names this model (`sessions[2]`): a failure to start names its key. */
  async start(config: SessionConfig, field: string): Promise<void> {
    checkGpuProviders(config, this.#config, field);
    let model: ServedModel;
    try {
      model = await ServedModel.start(this.#config.arbiter ? this.#arbiter : null, config, {
        backend: this.#config.backend,
        profile: this.#config.profiles,
        ...this.#listeners,
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
    this.#byName.set(config.name, model);
  }

  /** Takes the model out, then drains and closes it; the token time it used stays counted (busyMsOfRemoved). */
  async remove(name: string): Promise<void> {
    const model = this.get(name);
    this.#byName.delete(name);
    await model.close({ drain: true });
    this.#busyMsOfRemoved += model.instances.reduce((sum, instance) => sum + instance.stats().busyMs, 0);
  }

  /** Empties the set and returns what it held, for the server to close. */
  takeAll(): ServedModel[] {
    const models = [...this.#byName.values()];
    this.#byName.clear();
    return models;
  }

  /**
   * A session without maxBatch runs each request whole, so memory admission counts the request's own items:
   * those beyond the one item the session was admitted with must fit in what the budget has left. Returns
   * what gives the room back once the request is answered.
   */
  admitRows(model: ServedModel, rows: number): () => void {
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
    return [...this.#byName.values()].reduce((sum, model) => sum + model.residentMb, 0);
  }

  #sessionCount(): number {
    return [...this.#byName.values()].reduce((sum, model) => sum + model.instances.length, 0);
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
