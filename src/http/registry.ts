/**
 * Public model names over the server's sessions: which session serves a name (and version), the version
 * status the routes report, the weight, priority and budget an admin sets (kept across version switches),
 * and the poll that keeps each base path's newest version served (how: model-versions.ts).
 */
import { Errors, type SerializedError } from '../protocol/errors.js';
import type { Budget } from '../server/budget.js';
import type { Server } from '../server/server.js';
import { modelNamePattern, type HttpModelConfig } from './model-config.js';
import {
  pollModel,
  startModel,
  type ModelEntry,
  type RegistryLog,
  type ServedVersion,
  type VersionLoader,
  type VersionStatus,
} from './model-versions.js';

const silentLog: RegistryLog = { info() {}, error() {} };

export class ModelRegistry {
  readonly #server: Server;
  readonly #models = new Map<string, ModelEntry>();
  readonly #pollIntervalMs: number;
  readonly #loader: VersionLoader;
  #loads = 0;
  #timer: NodeJS.Timeout | null = null;
  #chain: Promise<void> = Promise.resolve();
  #closed = false;

  private constructor(server: Server, pollIntervalMs: number, log: RegistryLog) {
    this.#server = server;
    this.#pollIntervalMs = pollIntervalMs;
    this.#loader = {
      server,
      log,
      sessionName: (model, version) => `${model}.v${version}.${++this.#loads}`,
      closed: () => this.#closed,
    };
  }

  /** Loads every model (rejects naming `models[i]...` if one cannot serve any version) and starts polling. */
  static async create(
    server: Server,
    configs: HttpModelConfig[],
    options: { pollIntervalMs?: number; log?: RegistryLog } = {},
  ): Promise<ModelRegistry> {
    const registry = new ModelRegistry(server, options.pollIntervalMs ?? 1000, options.log ?? silentLog);
    for (const [i, config] of configs.entries()) {
      if (!modelNamePattern.test(config.name))
        throw Errors.invalidConfig(`models[${i}].name`, 'must be 1–48 letters, digits, "_" or "-"');
      if (registry.#models.has(config.name))
        throw Errors.invalidConfig(`models[${i}].name`, `duplicates ${JSON.stringify(config.name)}`);
      const entry: ModelEntry = {
        config,
        weight: config.weight ?? 1,
        priority: config.priority ?? 0,
        budget: config.budget ?? null,
        served: null,
        states: new Map(),
        failed: new Map(),
      };
      registry.#models.set(config.name, entry);
      await startModel(registry.#loader, entry, i);
    }
    registry.#schedule();
    return registry;
  }

  get names(): string[] {
    return [...this.#models.keys()];
  }

  has(name: string): boolean {
    return this.#models.has(name);
  }

  /**
   * The session to send a request to. Callers must pass it to `server.infer` in the same tick: a switch
   * removes the old session only after routing has moved, so a session returned here is still there then.
   */
  route(name: string, version?: string): ServedVersion {
    const entry = this.#entry(name);
    if (!entry.served) throw Errors.unavailable(`model ${JSON.stringify(name)} has no version loaded`);
    if (version !== undefined && version !== entry.served.version) {
      throw Errors.notFound('version', `${name}/versions/${version} (serving ${entry.served.version})`);
    }
    return entry.served;
  }

  served(name: string): ServedVersion | null {
    return this.#entry(name).served;
  }

  /** Every version known: those on disk, the served one and those that failed; newest first. */
  status(name: string, version?: string): VersionStatus[] {
    const entry = this.#entry(name);
    const rows = [...entry.states.values()].sort((a, b) => Number(b.version) - Number(a.version));
    if (version === undefined) return rows;
    const row = rows.find((r) => r.version === version);
    if (!row) throw Errors.notFound('version', `${name}/versions/${version}`);
    return [row];
  }

  scanError(name: string): SerializedError | undefined {
    return this.#entry(name).scanError;
  }

  /** The public model a session belongs to (sessions are named `<model>` or `<model>.v<version>.<n>`). */
  modelOf(session: string): string {
    return session.split('.')[0];
  }

  weights(name: string): { weight: number; priority: number } {
    const { weight, priority } = this.#entry(name);
    return { weight, priority };
  }

  /** Remembered, so that a version loaded later gets it too. */
  setWeight(name: string, weight: number): void {
    const entry = this.#entry(name);
    if (entry.served) this.#server.setWeight(entry.served.session, weight);
    entry.weight = weight;
  }

  setPriority(name: string, priority: number): void {
    const entry = this.#entry(name);
    if (entry.served) this.#server.setPriority(entry.served.session, priority);
    entry.priority = priority;
  }

  budget(name: string): Budget | null {
    return this.#entry(name).budget;
  }

  /** Remembered as weights are; null lifts it. */
  setBudget(name: string, budget: Budget | null): void {
    const entry = this.#entry(name);
    if (entry.served) this.#server.setBudget(entry.served.session, budget);
    entry.budget = budget;
  }

  /** Scans every base path now (after any scan under way), loading and switching as needed. */
  poll(): Promise<void> {
    this.#chain = this.#chain.then(() => this.#pollAll());
    return this.#chain;
  }

  /** Stops polling and waits for a load under way; the server's sessions are the server's to close. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    await this.#chain;
  }

  #entry(name: string): ModelEntry {
    const entry = typeof name === 'string' ? this.#models.get(name) : undefined;
    if (!entry) throw Errors.notFound('model', String(name));
    return entry;
  }

  #schedule(): void {
    const versioned = [...this.#models.values()].some((e) => e.config.basePath !== undefined);
    if (this.#closed || !versioned || !(this.#pollIntervalMs > 0)) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      void this.poll().finally(() => this.#schedule());
    }, this.#pollIntervalMs);
  }

  async #pollAll(): Promise<void> {
    for (const entry of this.#models.values()) {
      if (this.#closed) return;
      if (entry.config.basePath !== undefined) await pollModel(this.#loader, entry, entry.config.basePath);
    }
  }
}
