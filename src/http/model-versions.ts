/**
 * One model's versions as TF-Serving serves them: the entry the registry keeps per model, and how its
 * versions are found, loaded and switched to. Apart from registry.ts, which maps public names to entries,
 * routes and polls, because the switch is the delicate part and reads best alone.
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
 */
import { isOlympianError, Errors, ErrorCode, type SerializedError } from '../protocol/errors.js';
import type { ModelSignature } from '../protocol/session-messages.js';
import type { Budget } from '../server/budget.js';
import type { Server } from '../server/server.js';
import type { HttpModelConfig } from './model-config.js';
import { scanVersions, type VersionDir } from './versions.js';

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

export interface ModelEntry {
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

/** What loading a version needs from the registry that owns the entry. */
export interface VersionLoader {
  readonly server: Server;
  readonly log: RegistryLog;
  /** A session name no other version has had: `<model>.v<version>.<n>`. */
  sessionName(model: string, version: string): string;
  /** Whether the registry has closed: a poll then loads nothing more. */
  closed(): boolean;
}

const asSerialized = (error: unknown): SerializedError =>
  isOlympianError(error)
    ? { code: error.code, message: error.message }
    : { code: ErrorCode.MODEL_LOAD_FAILED, message: String((error as Error)?.message ?? error) };

/** Serves the model's first version; rejects naming `models[index]...` if no version can serve. */
export async function startModel(loader: VersionLoader, entry: ModelEntry, index: number): Promise<void> {
  const { config } = entry;
  if (config.basePath === undefined) {
    await loader.server.addSession(
      { ...sessionConfig(entry), name: config.name, model: config.model! },
      `models[${index}]`,
    );
    entry.served = { version: '1', session: config.name, signature: loader.server.signature(config.name) };
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
  for (const dir of dirs) if (await loadVersion(loader, entry, dir)) return;
  const why =
    dirs.length === 0
      ? 'has no numbered version directory'
      : `has no version that loads (${entry.states.get(dirs[0].version)?.error?.message})`;
  throw Errors.modelLoadFailed(config.basePath, why, `models[${index}].basePath`);
}

function sessionConfig(entry: ModelEntry) {
  const { instances, maxQueue, maxBatch, batchWindowUs, deadlineMs, executionProviders, intraOpThreads, segmentMs } =
    entry.config;
  const onnx = { executionProviders, intraOpThreads, segmentMs };
  const budget = entry.budget ?? undefined;
  const batching = { maxQueue, maxBatch, batchWindowUs, deadlineMs };
  const warmupInputs = entry.config.warmupInputs;
  return { weight: entry.weight, priority: entry.priority, instances, budget, warmupInputs, ...batching, ...onnx };
}

/** Scans the base path once, loading and switching to a newer version as needed. */
export async function pollModel(loader: VersionLoader, entry: ModelEntry, basePath: string): Promise<void> {
  let dirs: VersionDir[];
  try {
    dirs = await scanVersions(basePath);
    entry.scanError = undefined;
  } catch (error) {
    // Keep serving what is loaded: a base path on a flaky mount must not take the model down.
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    if (entry.scanError === undefined)
      loader.log.error({ model: entry.config.name, basePath, code }, 'cannot scan the model base path');
    entry.scanError = { code: ErrorCode.UNAVAILABLE, message: `cannot scan ${basePath} (${code})` };
    return;
  }
  for (const dir of dirs)
    if (!entry.states.has(dir.version)) entry.states.set(dir.version, { version: dir.version, state: 'END' });
  const target = dirs.find((d) => entry.failed.get(d.version) !== d.fingerprint);
  if (target && target.version !== entry.served?.version && !loader.closed()) await loadVersion(loader, entry, target);
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
async function loadVersion(loader: VersionLoader, entry: ModelEntry, dir: VersionDir): Promise<boolean> {
  const { server, log } = loader;
  const name = entry.config.name;
  const session = loader.sessionName(name, dir.version);
  entry.states.set(dir.version, { version: dir.version, state: 'LOADING' });
  log.info({ model: name, version: dir.version, path: dir.path }, 'loading model version');
  try {
    await server.addSession({ ...sessionConfig(entry), name: session, model: dir.path });
  } catch (error) {
    const serialized = asSerialized(error);
    entry.failed.set(dir.version, dir.fingerprint);
    entry.states.set(dir.version, { version: dir.version, state: 'END', error: serialized });
    log.error(
      { model: name, version: dir.version, error: serialized },
      'model version failed to load; the served version stays',
    );
    return false;
  }
  // An admin may have changed these while the version loaded.
  server.setWeight(session, entry.weight);
  server.setPriority(session, entry.priority);
  server.setBudget(session, entry.budget);
  const old = entry.served;
  entry.served = { version: dir.version, session, signature: server.signature(session) };
  entry.failed.delete(dir.version);
  entry.states.set(dir.version, { version: dir.version, state: 'AVAILABLE' });
  log.info({ model: name, version: dir.version, previous: old?.version ?? null }, 'serving model version');
  if (old) {
    entry.states.set(old.version, { version: old.version, state: 'UNLOADING' });
    try {
      await server.removeSession(old.session);
    } finally {
      entry.states.set(old.version, { version: old.version, state: 'END' });
    }
  }
  return true;
}
