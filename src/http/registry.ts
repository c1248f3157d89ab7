/**
 * Public model names over the server's sessions, with TF-Serving's model versions.
 *
 * A model is either a fixed source (served as version 1 under its own name) or a base path of numbered
 * version directories. For a base path:
 *   1. the newest version that loads is served; at start, older ones are tried if newer ones fail;
 *   2. a poll of the base path finds a newer version (or the loss of the served one) without a restart;
 *   3. the new version starts as a session of its own (`<model>.v<version>.<n>`), is warmed by addSession,
 *      and only then does routing switch to it; the old session is removed, which drains its queue, so no
 *      request is lost across the switch;
 *   4. a version that fails to load leaves the old one serving, is reported in status with its error,
 *      and is tried again only when its files change.
 * Public names have no dots, so an internal session name never collides with one.
 */
import { isOlympianError, Errors, ErrorCode, type SerializedError } from '../protocol/errors.js';
import type { ModelSource, ModelSignature } from '../protocol/session-messages.js';
import type { WarmupInputs } from '../protocol/warmup-inputs.js';
import type { Budget } from '../server/budget.js';
import type { Server } from '../server/server.js';
import { scanVersions, type VersionDir } from './versions.js';

export interface HttpModelConfig {
  /** The public name: 1–48 letters, digits, "_" or "-". */
  name: string;
  /** TF-Serving's model base path: numbered version subdirectories, each holding a model.json or model.onnx. */
  basePath?: string;
  /** Or one fixed model (a path, URL, zoo or module source), served as version 1. */
  model?: ModelSource;
  weight?: number;
  priority?: number;
  /** Session threads serving the model, on one account (see SessionConfig.instances). */
  instances?: number;
  maxQueue?: number;
  maxBatch?: number;
  batchWindowUs?: number;
  /** ONNX models (see SessionConfig): onnxruntime's providers, intra-op threads, segment target. */
  executionProviders?: string[];
  intraOpThreads?: number;
  segmentMs?: number;
  /** A real batch-of-one input's free dimensions and value, for models that refuse warm-up on 1s and 0s. */
  warmupInputs?: WarmupInputs;
  /** A device-time budget for the model (every version it serves gets it; a new version starts full). */
  budget?: Budget;
  /** Deadline of the model's requests that carry none, ms (see SessionConfig.deadlineMs). */
  deadlineMs?: number;
}

export type VersionState = 'LOADING' | 'AVAILABLE' | 'UNLOADING' | 'END';

export interface VersionStatus {
  version: string;
  state: VersionState;
  /** Why the version is not served, where it failed. */
  error?: SerializedError;
}

export interface ServedVersion {
  version: string;
  session: string;
  signature: ModelSignature;
}

/** The subset of a pino logger the registry writes to. */
export interface RegistryLog {
  info(details: object, message: string): void;
  error(details: object, message: string): void;
}

interface ModelEntry {
  readonly config: HttpModelConfig;
  weight: number;
  priority: number;
  budget: Budget | null;
  served: ServedVersion | null;
  states: Map<string, VersionStatus>;
  /** Version → the fingerprint its directory had when it failed to load. */
  failed: Map<string, string>;
  /** Why the last scan of the base path failed, if it did. */
  scanError?: SerializedError;
}

export const modelNamePattern = /^[A-Za-z0-9_-]{1,48}$/;
const silentLog: RegistryLog = { info() {}, error() {} };
const asSerialized = (error: unknown): SerializedError =>
  isOlympianError(error)
    ? { code: error.code, message: error.message }
    : { code: ErrorCode.MODEL_LOAD_FAILED, message: String((error as Error)?.message ?? error) };

export class ModelRegistry {
  readonly #server: Server;
  readonly #models = new Map<string, ModelEntry>();
  readonly #pollIntervalMs: number;
  readonly #log: RegistryLog;
  #loads = 0;
  #timer: NodeJS.Timeout | null = null;
  #chain: Promise<void> = Promise.resolve();
  #closed = false;

  private constructor(server: Server, pollIntervalMs: number, log: RegistryLog) {
    this.#server = server;
    this.#pollIntervalMs = pollIntervalMs;
    this.#log = log;
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
      await registry.#startModel(entry, i);
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

  async #startModel(entry: ModelEntry, index: number): Promise<void> {
    const { config } = entry;
    if (config.basePath === undefined) {
      await this.#server.addSession(
        { ...this.#sessionConfig(entry), name: config.name, model: config.model! },
        `models[${index}]`,
      );
      entry.served = { version: '1', session: config.name, signature: this.#server.signature(config.name) };
      entry.states.set('1', { version: '1', state: 'AVAILABLE' });
      return;
    }
    let dirs: VersionDir[];
    try {
      dirs = await scanVersions(config.basePath);
    } catch (error) {
      throw Errors.invalidConfig(
        `models[${index}].basePath`,
        `cannot be read (${(error as NodeJS.ErrnoException).code ?? error})`,
      );
    }
    for (const dir of dirs) entry.states.set(dir.version, { version: dir.version, state: 'END' });
    for (const dir of dirs) if (await this.#load(entry, dir)) return;
    const why =
      dirs.length === 0
        ? 'has no numbered version directory'
        : `has no version that loads (${entry.states.get(dirs[0].version)?.error?.message})`;
    throw Errors.modelLoadFailed(config.basePath, why, `models[${index}].basePath`);
  }

  #sessionConfig(entry: ModelEntry) {
    const { instances, maxQueue, maxBatch, batchWindowUs, deadlineMs, executionProviders, intraOpThreads, segmentMs } =
      entry.config;
    const onnx = { executionProviders, intraOpThreads, segmentMs };
    const budget = entry.budget ?? undefined;
    const batching = { maxQueue, maxBatch, batchWindowUs, deadlineMs };
    const warmupInputs = entry.config.warmupInputs;
    return { weight: entry.weight, priority: entry.priority, instances, budget, warmupInputs, ...batching, ...onnx };
  }

  async #pollAll(): Promise<void> {
    for (const entry of this.#models.values()) {
      if (this.#closed) return;
      if (entry.config.basePath !== undefined) await this.#pollModel(entry, entry.config.basePath);
    }
  }

  async #pollModel(entry: ModelEntry, basePath: string): Promise<void> {
    let dirs: VersionDir[];
    try {
      dirs = await scanVersions(basePath);
      entry.scanError = undefined;
    } catch (error) {
      // Keep serving what is loaded: a base path on a flaky mount must not take the model down.
      const code = (error as NodeJS.ErrnoException).code ?? String(error);
      if (entry.scanError === undefined)
        this.#log.error({ model: entry.config.name, basePath, code }, 'cannot scan the model base path');
      entry.scanError = { code: ErrorCode.UNAVAILABLE, message: `cannot scan ${basePath} (${code})` };
      return;
    }
    for (const dir of dirs)
      if (!entry.states.has(dir.version)) entry.states.set(dir.version, { version: dir.version, state: 'END' });
    const target = dirs.find((d) => entry.failed.get(d.version) !== d.fingerprint);
    if (target && target.version !== entry.served?.version && !this.#closed) await this.#load(entry, target);
    // Versions gone from disk leave the status once they are not served (the served one stays, in memory).
    const onDisk = new Set(dirs.map((d) => d.version));
    for (const [version, row] of entry.states) {
      if (!onDisk.has(version) && version !== entry.served?.version && row.state === 'END') {
        entry.states.delete(version);
        entry.failed.delete(version);
      }
    }
  }

  /** Loads one version beside the served one and switches to it; false (old one kept) if it fails. */
  async #load(entry: ModelEntry, dir: VersionDir): Promise<boolean> {
    const name = entry.config.name;
    const session = `${name}.v${dir.version}.${++this.#loads}`;
    entry.states.set(dir.version, { version: dir.version, state: 'LOADING' });
    this.#log.info({ model: name, version: dir.version, path: dir.path }, 'loading model version');
    try {
      await this.#server.addSession({ ...this.#sessionConfig(entry), name: session, model: dir.path });
    } catch (error) {
      const serialized = asSerialized(error);
      entry.failed.set(dir.version, dir.fingerprint);
      entry.states.set(dir.version, { version: dir.version, state: 'END', error: serialized });
      this.#log.error(
        { model: name, version: dir.version, error: serialized },
        'model version failed to load; the served version stays',
      );
      return false;
    }
    // An admin may have changed these while the version loaded.
    this.#server.setWeight(session, entry.weight);
    this.#server.setPriority(session, entry.priority);
    this.#server.setBudget(session, entry.budget);
    const old = entry.served;
    entry.served = { version: dir.version, session, signature: this.#server.signature(session) };
    entry.failed.delete(dir.version);
    entry.states.set(dir.version, { version: dir.version, state: 'AVAILABLE' });
    this.#log.info({ model: name, version: dir.version, previous: old?.version ?? null }, 'serving model version');
    if (old) {
      entry.states.set(old.version, { version: old.version, state: 'UNLOADING' });
      try {
        await this.#server.removeSession(old.session);
      } finally {
        entry.states.set(old.version, { version: old.version, state: 'END' });
      }
    }
    return true;
  }
}
