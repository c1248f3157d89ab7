/**
 * The embedding API's configuration, checked up front: every bad value is an INVALID_CONFIG error whose
 * `field` is the path to it (`sessions[2].maxBatch`), before any thread starts.
 */
import { availableParallelism } from 'node:os';
import { kMaxSessions, type PolicyName } from '../arbiter/layout.js';
import { validateArbiterOptions, validatePriority, validateWeight } from '../arbiter/validate.js';
import { Errors } from '../protocol/errors.js';
import { parseZooSource, zooProblem } from '../models/zoo-catalog.js';
import type { BackendRequest } from '../protocol/session-messages.js';
import type { SessionOptions } from '../workers/session-options.js';
import { validateBudget, type Budget } from './budget.js';
import type { AdmissionMode } from '../workers/service-time.js';
import { validateOnnxOptions } from './onnx-options.js';
import { validateWarmupInputs } from '../protocol/warmup-inputs.js';

export type DeviceRequest = 'auto' | 'gpu' | 'cpu';

/** A model as the server takes it: a session's own options, less those the server sets, and its instances. */
export type SessionConfig = Omit<
  SessionOptions,
  | 'backend'
  | 'profile'
  | 'restartBackoffMs'
  | 'restartMaxMs'
  | 'account'
  | 'instance'
  | 'onLoad'
  | 'onOutcome'
  | 'device'
> & {
  /** Deadline of the model's requests that carry none, ms from arrival (default: none). */
  deadlineMs?: number;
  /**
   * Session threads that serve the model (Triton's instance group), default 1. They share one account on the
   * arbiter — one weight, priority and share — and hold at most min(instances, tokens) tokens at once;
   * requests go to an idle instance first, then to the one with the fewest; each batches on its own.
   */
  instances?: number;
  /**
   * A device-time budget for the model (all its instances): over it, requests are refused with QUOTA_EXCEEDED
   * until the refill pays the debt back (budget.ts). Default none.
   */
  budget?: Budget;
};

export interface ServerOptions {
  /** false: no arbiter, every session runs ungated (the baseline the benches compare against). */
  arbiter?: boolean;
  device?: DeviceRequest;
  /** Overrides the backend `device` would pick. */
  backend?: BackendRequest;
  policy?: PolicyName;
  quantumMs?: number;
  /** `deadline` policy: quanta a backlogged model may fall behind its weighted share (default 64). */
  lagQuanta?: number;
  /**
   * Requests with deadlines: `predicted` refuses one predicted to be answered late and drops a queued one
   * that can no longer be in time (DEADLINE_EXCEEDED, counted as shed and dropped); `start` runs any that
   * starts in time. Default: `predicted` while the policy is `deadline`, `start` under the others.
   */
  admission?: AdmissionMode;
  /**
   * K; default 1 on a GPU, and on a CPU its cores + 1: one token of slack keeps every core busy while a holder
   * blocks (a page fault, a GC pause, a lock) or a thread handed a token is still waking, which with K = cores
   * left about a sixth of the cores idle; the main thread's own work is a few percent (bench/results/tokens.md).
   */
  tokens?: number;
  windowMs?: number;
  /** Sessions whose estimated resident size (weights + activations at maxBatch) would exceed this fail. */
  memoryBudgetMB?: number;
  /** Where sessions with `accounting: 'predicted'` look for profiles (default `profiles`). */
  profiles?: string;
  /** Largest request accepted, bytes of tensor data (default 64 MiB). */
  maxRequestBytes?: number;
  sessions?: SessionConfig[];
}

export interface ResolvedConfig {
  arbiter: boolean;
  profiles: string;
  device: DeviceRequest;
  backend: BackendRequest;
  policy: PolicyName;
  quantumMs: number;
  lagQuanta: number;
  admission: AdmissionMode | undefined;
  tokens: number;
  windowMs: number;
  memoryBudgetMB: number;
  maxRequestBytes: number;
  sessions: SessionConfig[];
}

/** Every key a session config may have (the type makes this list whole); any other is a typo worth naming. */
const sessionConfigKeyTable: Record<keyof SessionConfig, true> = {
  name: true,
  model: true,
  instances: true,
  weight: true,
  priority: true,
  maxQueue: true,
  maxBatch: true,
  batchWindowUs: true,
  gateMode: true,
  accounting: true,
  autoProfile: true,
  gpuTiming: true,
  executionProviders: true,
  intraOpThreads: true,
  segmentMs: true,
  warmupInputs: true,
  budget: true,
  deadlineMs: true,
};
export const sessionConfigKeys: ReadonlySet<string> = new Set(Object.keys(sessionConfigKeyTable));

const devices: DeviceRequest[] = ['auto', 'gpu', 'cpu'];
const admissionModes: AdmissionMode[] = ['predicted', 'start'];
const backends: BackendRequest[] = ['auto', 'wasm', 'cpu', 'webgpu', 'tensorflow'];
const isCount = (value: unknown, min: number) => Number.isSafeInteger(value) && (value as number) >= min;

function backendFor(device: DeviceRequest, backend: BackendRequest | undefined): BackendRequest {
  if (backend !== undefined) return backend;
  if (device === 'gpu') return 'webgpu';
  return device === 'cpu' ? 'wasm' : 'auto';
}

/**
 * A model source as a session takes it: a path or URL, a zoo model, or a module. A zoo model is checked here,
 * on the main thread and before any worker starts: its name, and an input size its architecture can take.
 */
export function validateModelSource(model: unknown, field: string): void {
  if (typeof model === 'string') {
    if (!model.startsWith('zoo:')) return;
    const zoo = parseZooSource(model);
    if (!zoo)
      throw Errors.invalidConfig(field, `must look like zoo:<name>[@<inputSize>], got ${JSON.stringify(model)}`);
    const problem = zooProblem(zoo.zoo, zoo.inputSize);
    if (problem) throw Errors.invalidConfig(field, problem.why);
    return;
  }
  const source = (typeof model === 'object' && model !== null ? model : {}) as {
    zoo?: unknown;
    module?: unknown;
    inputSize?: unknown;
  };
  if (typeof source.module === 'string') return;
  if (typeof source.zoo !== 'string')
    throw Errors.invalidConfig(field, 'must be a path or URL, { zoo }, or { module }');
  if (source.inputSize !== undefined && !Number.isSafeInteger(source.inputSize))
    throw Errors.invalidConfig(`${field}.inputSize`, `must be an integer, got ${String(source.inputSize)}`);
  const problem = zooProblem(source.zoo, source.inputSize as number | undefined);
  if (problem) throw Errors.invalidConfig(`${field}.${problem.key}`, problem.why);
}

/** What a session's options are checked against where the server is known: its tokens, and whether it has an arbiter. */
export interface ServerLimits {
  tokens: number;
  arbiter: boolean;
}

export function validateSessionConfig(config: SessionConfig, field: string, server?: ServerLimits): SessionConfig {
  if (typeof config !== 'object' || config === null) throw Errors.invalidConfig(field, 'must be an object');
  for (const key of Object.keys(config)) {
    if (!sessionConfigKeys.has(key))
      throw Errors.invalidConfig(`${field}.${key}`, `is not a session option (${[...sessionConfigKeys].join(', ')})`);
  }
  if (typeof config.name !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(config.name)) {
    throw Errors.invalidConfig(`${field}.name`, 'must be 1–64 letters, digits, "_", "." or "-"');
  }
  validateModelSource(config.model, `${field}.model`);
  validateSessionOptions(config, field, server);
  return config;
}

/** A session's options other than its name and model, where set: also what olympian.json's models take. */
export function validateSessionOptions(config: Partial<SessionConfig>, field: string, server?: ServerLimits): void {
  if (config.weight !== undefined) validateWeight(config.weight, `${field}.weight`);
  if (config.priority !== undefined) validatePriority(config.priority, `${field}.priority`);
  if (config.instances !== undefined && !(isCount(config.instances, 1) && config.instances <= kMaxSessions)) {
    throw Errors.invalidConfig(`${field}.instances`, `must be an integer from 1 to ${kMaxSessions}`);
  }
  if (config.maxQueue !== undefined && !isCount(config.maxQueue, 0))
    throw Errors.invalidConfig(`${field}.maxQueue`, 'must be an integer >= 0');
  if (config.maxBatch !== undefined && !isCount(config.maxBatch, 1))
    throw Errors.invalidConfig(`${field}.maxBatch`, 'must be an integer >= 1');
  if (
    config.batchWindowUs !== undefined &&
    !(typeof config.batchWindowUs === 'number' && Number.isFinite(config.batchWindowUs) && config.batchWindowUs >= 0)
  ) {
    throw Errors.invalidConfig(`${field}.batchWindowUs`, 'must be a number >= 0');
  }
  if (config.gateMode !== undefined && config.gateMode !== 'overlap' && config.gateMode !== 'strict') {
    throw Errors.invalidConfig(`${field}.gateMode`, 'must be overlap or strict');
  }
  if (config.accounting !== undefined && config.accounting !== 'predicted' && config.accounting !== 'measured') {
    throw Errors.invalidConfig(`${field}.accounting`, 'must be predicted or measured');
  }
  if (config.autoProfile !== undefined && typeof config.autoProfile !== 'boolean')
    throw Errors.invalidConfig(`${field}.autoProfile`, 'must be true or false');
  if (config.gpuTiming !== undefined && typeof config.gpuTiming !== 'boolean')
    throw Errors.invalidConfig(`${field}.gpuTiming`, 'must be true or false');
  if (config.budget !== undefined) validateBudget(config.budget, `${field}.budget`, server?.tokens);
  // Without the arbiter no device time is charged, so a budget would never run out: say so rather than ignore it.
  if (config.budget !== undefined && server?.arbiter === false)
    throw Errors.invalidConfig(`${field}.budget`, 'needs the arbiter (arbiter: false charges no device time)');
  if (
    config.deadlineMs !== undefined &&
    !(typeof config.deadlineMs === 'number' && Number.isFinite(config.deadlineMs) && config.deadlineMs > 0)
  )
    throw Errors.invalidConfig(
      `${field}.deadlineMs`,
      `must be a number of milliseconds > 0, got ${String(config.deadlineMs)}`,
    );
  validateOnnxOptions(config, field);
  validateWarmupInputs(config.warmupInputs, `${field}.warmupInputs`);
}

/** Native TensorFlow (tfjs-node) is process-global and fails in a second worker thread (tfjs issue 8388). */
export function checkSessionCount(backend: BackendRequest, sessions: number): void {
  if (backend === 'tensorflow' && sessions > 1) {
    throw Errors.invalidConfig(
      'backend',
      `native TensorFlow (tfjs-node) is process-global and fails in a second worker thread (tfjs issue 8388): it serves one session at most, here ${sessions}; use backend "webgpu" to share a GPU`,
    );
  }
}

export function resolveConfig(options: ServerOptions): ResolvedConfig {
  if (typeof options !== 'object' || options === null) throw Errors.invalidConfig('options', 'must be an object');
  const device = options.device ?? 'auto';
  if (!devices.includes(device))
    throw Errors.invalidConfig('device', `must be one of ${devices.join(', ')}, got ${JSON.stringify(device)}`);
  if (options.backend !== undefined && !backends.includes(options.backend)) {
    throw Errors.invalidConfig(
      'backend',
      `must be one of ${backends.join(', ')}, got ${JSON.stringify(options.backend)}`,
    );
  }
  const backend = backendFor(device, options.backend);
  const tokens = options.tokens ?? (backend === 'webgpu' ? 1 : availableParallelism() + 1);
  const arbiter = validateArbiterOptions({
    policy: options.policy,
    quantumMs: options.quantumMs,
    tokens,
    windowMs: options.windowMs,
    lagQuanta: options.lagQuanta,
  });
  if (options.admission !== undefined && !admissionModes.includes(options.admission))
    throw Errors.invalidConfig('admission', `must be predicted or start, got ${JSON.stringify(options.admission)}`);
  const memoryBudgetMB = options.memoryBudgetMB ?? Infinity;
  if (!(memoryBudgetMB > 0)) throw Errors.invalidConfig('memoryBudgetMB', 'must be a number > 0');
  const maxRequestBytes = options.maxRequestBytes ?? 64 * 2 ** 20;
  if (!isCount(maxRequestBytes, 1)) throw Errors.invalidConfig('maxRequestBytes', 'must be an integer >= 1');
  const sessions = options.sessions ?? [];
  if (!Array.isArray(sessions)) throw Errors.invalidConfig('sessions', 'must be an array');
  checkSessionCount(backend, sessions.length);
  const names = new Set<string>();
  sessions.forEach((session, i) => {
    validateSessionConfig(session, `sessions[${i}]`, { tokens, arbiter: options.arbiter !== false });
    if (names.has(session.name))
      throw Errors.invalidConfig(`sessions[${i}].name`, `duplicates ${JSON.stringify(session.name)}`);
    names.add(session.name);
  });
  if (options.arbiter !== undefined && typeof options.arbiter !== 'boolean')
    throw Errors.invalidConfig('arbiter', 'must be true or false');
  if (options.profiles !== undefined && typeof options.profiles !== 'string')
    throw Errors.invalidConfig('profiles', 'must be a directory path');
  return {
    arbiter: options.arbiter ?? true,
    profiles: options.profiles ?? 'profiles',
    device,
    backend,
    policy: arbiter.policy,
    quantumMs: arbiter.quantumMs,
    lagQuanta: arbiter.lagQuanta,
    admission: options.admission,
    tokens,
    windowMs: arbiter.windowMs,
    memoryBudgetMB,
    maxRequestBytes,
    sessions,
  };
}
