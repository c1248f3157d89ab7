/**
 * The configuration file of `olympian serve` (olympian.json): read and checked whole before anything starts
 * (every mistake an INVALID_CONFIG whose `field` is the path to the key, e.g. `models[1].basePath`), and
 * turned into startHttpServer's options. The server's own keys are checked by the server's rules.
 *
 * Relative paths in the file (base paths, model paths, TLS files, token files) are relative to the file.
 * Examples: deploy/olympian.zoo.json (runs as it is), deploy/olympian.example.json (a deployment).
 */
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { validateHttpOptions, type HttpServerOptions } from './http-server.js';
import { limitKeys, type HttpLimits } from './limits.js';
import { modelNamePattern, type HttpModelConfig } from './model-config.js';
import { Errors } from '../protocol/errors.js';
import type { ModelSource } from '../protocol/session-messages.js';
import {
  resolveConfig,
  validateModelSource,
  validateSessionOptions,
  type Budget,
  type ServerOptions,
} from '../server/index.js';

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
/** Top-level keys handed to createServer as they are. */
const serverKeys = [
  'device',
  'backend',
  'policy',
  'quantumMs',
  'lagQuanta',
  'admission',
  'tokens',
  'windowMs',
  'memoryBudgetMB',
] as const;
const topKeys = [
  'host',
  'port',
  'grpcPort',
  ...serverKeys,
  'pollIntervalMs',
  'limits',
  'adminToken',
  'tls',
  'log',
  'models',
];
const modelKeys = [
  'name',
  'basePath',
  'model',
  'instances',
  'weight',
  'priority',
  'maxQueue',
  'maxBatch',
  'batchWindowUs',
  'deadlineMs',
  'executionProviders',
  'intraOpThreads',
  'segmentMs',
  'warmupInputs',
  'budget',
];

function onlyKeys(value: unknown, allowed: string[], field: string): Json {
  if (!isObject(value)) throw Errors.invalidConfig(field || 'config', 'must be an object');
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key))
      throw Errors.invalidConfig(field ? `${field}.${key}` : key, `is not a known key (${allowed.join(', ')})`);
  }
  return value;
}

const isCount = (value: unknown, min: number) => Number.isSafeInteger(value) && (value as number) >= min;
const isRemote = (path: string) => /^[a-z][a-z0-9+.-]*:/i.test(path) && !/^[a-z]:[\\/]/i.test(path);

function pathIn(baseDir: string, value: unknown, field: string): string {
  if (typeof value !== 'string' || value === '') throw Errors.invalidConfig(field, 'must be a non-empty path');
  return isAbsolute(value) ? value : resolve(baseDir, value);
}

/** Model sources as the server takes them, with relative file paths made absolute. */
function modelSource(baseDir: string, value: unknown, field: string): ModelSource {
  if (typeof value === 'string')
    return value.startsWith('zoo:') || isRemote(value) ? value : pathIn(baseDir, value, field);
  if (isObject(value) && typeof value.zoo === 'string') return value as ModelSource;
  if (isObject(value) && typeof value.module === 'string') {
    const module =
      value.module.startsWith('.') || isAbsolute(value.module)
        ? pathToFileURL(pathIn(baseDir, value.module, `${field}.module`)).href
        : value.module;
    return { ...(value as { module: string }), module };
  }
  throw Errors.invalidConfig(field, 'must be a path or URL, "zoo:<name>[@<size>]", { zoo }, or { module }');
}

/** `tokens` (the server's, resolved) bounds a budget's rate. */
function modelConfig(baseDir: string, raw: unknown, i: number, names: Set<string>, tokens: number): HttpModelConfig {
  const field = `models[${i}]`;
  const model = onlyKeys(raw, modelKeys, field);
  if (typeof model.name !== 'string' || !modelNamePattern.test(model.name))
    throw Errors.invalidConfig(`${field}.name`, 'must be 1–48 letters, digits, "_" or "-"');
  if (names.has(model.name)) throw Errors.invalidConfig(`${field}.name`, `duplicates ${JSON.stringify(model.name)}`);
  names.add(model.name);
  if ((model.basePath === undefined) === (model.model === undefined))
    throw Errors.invalidConfig(field, 'needs exactly one of basePath (versioned) and model (fixed)');
  const out: HttpModelConfig = { name: model.name };
  if (model.basePath !== undefined) out.basePath = pathIn(baseDir, model.basePath, `${field}.basePath`);
  else {
    out.model = modelSource(baseDir, model.model, `${field}.model`);
    validateModelSource(out.model, `${field}.model`);
  }
  validateSessionOptions(model, field, { tokens, arbiter: true });
  for (const key of ['instances', 'weight', 'priority', 'maxQueue', 'maxBatch', 'batchWindowUs', 'deadlineMs'] as const)
    if (model[key] !== undefined) out[key] = model[key] as number;
  for (const key of ['intraOpThreads', 'segmentMs'] as const)
    if (model[key] !== undefined) out[key] = model[key] as number;
  if (model.executionProviders !== undefined) out.executionProviders = model.executionProviders as string[];
  if (model.warmupInputs !== undefined) out.warmupInputs = model.warmupInputs as HttpModelConfig['warmupInputs'];
  if (model.budget !== undefined) out.budget = model.budget as Budget;
  return out;
}

async function readSecret(baseDir: string, value: unknown): Promise<string | undefined> {
  if (value === undefined || typeof value === 'string') return value;
  const spec = onlyKeys(value, ['env', 'file'], 'adminToken');
  if (typeof spec.env === 'string') {
    const token = process.env[spec.env];
    if (!token) throw Errors.invalidConfig('adminToken.env', `names ${spec.env}, which is not set`);
    return token;
  }
  if (spec.file !== undefined) {
    const path = pathIn(baseDir, spec.file, 'adminToken.file');
    return (
      await readFile(path, 'utf8').catch(() =>
        Promise.reject(Errors.invalidConfig('adminToken.file', `cannot be read (${path})`)),
      )
    ).trim();
  }
  throw Errors.invalidConfig('adminToken', 'must be a string, { env: NAME } or { file: path }');
}

/** Checks a parsed configuration and turns it into startHttpServer's options (secrets and TLS files read). */
export async function validateServeConfig(raw: unknown, baseDir: string): Promise<HttpServerOptions> {
  const config = onlyKeys(raw, topKeys, '');
  const server: Omit<ServerOptions, 'sessions'> = {};
  for (const key of serverKeys) {
    if (config[key] !== undefined) (server as Json)[key] = config[key];
  }
  const { requestBytes, ...httpLimits } = onlyKeys(config.limits ?? {}, ['requestBytes', ...limitKeys], 'limits');
  if (requestBytes !== undefined && !isCount(requestBytes, 1))
    throw Errors.invalidConfig('limits.requestBytes', 'must be an integer >= 1');
  if (requestBytes !== undefined) server.maxRequestBytes = requestBytes as number;
  const { tokens } = resolveConfig({ ...server, sessions: [] }); // device, backend, policy, quantumMs, tokens, ...
  if (!Array.isArray(config.models) || config.models.length === 0)
    throw Errors.invalidConfig('models', 'must list at least one model');
  const names = new Set<string>();
  const models = config.models.map((model, i) => modelConfig(baseDir, model, i, names, tokens));
  const log = onlyKeys(config.log ?? {}, ['level'], 'log');
  if (log.level !== undefined && !logLevels.includes(log.level as string))
    throw Errors.invalidConfig('log.level', `must be one of ${logLevels.join(', ')}`);
  const options: HttpServerOptions = { server, models, logger: { level: (log.level as string | undefined) ?? 'info' } };
  if (config.host !== undefined) options.host = config.host as string;
  if (config.port !== undefined) options.port = config.port as number;
  if (config.grpcPort !== undefined) options.grpcPort = config.grpcPort as number;
  if (config.pollIntervalMs !== undefined) options.pollIntervalMs = config.pollIntervalMs as number;
  if (Object.keys(httpLimits).length > 0) options.limits = httpLimits as Partial<HttpLimits>;
  options.adminToken = await readSecret(baseDir, config.adminToken);
  if (options.adminToken === undefined) delete options.adminToken;
  if (config.tls !== undefined) {
    const tls = onlyKeys(config.tls, ['keyFile', 'certFile'], 'tls');
    const read = (key: 'keyFile' | 'certFile') => {
      const path = pathIn(baseDir, tls[key], `tls.${key}`);
      return readFile(path).catch(() => Promise.reject(Errors.invalidConfig(`tls.${key}`, `cannot be read (${path})`)));
    };
    options.tls = { key: await read('keyFile'), cert: await read('certFile') };
  }
  validateHttpOptions(options); // host, ports, pollIntervalMs, the limits, and the token a wide bind needs
  return options;
}

/** Reads and checks a configuration file. */
export async function loadServeConfig(path: string): Promise<HttpServerOptions> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw Errors.invalidConfig('config', `cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? error})`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw Errors.invalidConfig('config', `${path} is not valid JSON (${(error as Error).message})`);
  }
  return validateServeConfig(raw, dirname(resolve(path)));
}
