/**
 * The profile file (`profiles/<fingerprint id>/<model id>.json`) and its schema check. A file that cannot be
 * used as written is an INVALID_CONFIG naming the file and the JSON path of the first bad key; a file that
 * is fine but about another device or another kernel sequence is not an error (see plan.ts).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Errors } from '../protocol/errors.js';
import type { DeviceFingerprint } from './fingerprint.js';
import type { FitFigures, LinearFit, NameAverage } from './fit.js';

export const kProfileSchemaVersion = 1;

/**
 * How a profile's per-kernel costs were obtained. Files from before this field existed were all made on
 * wasm or cpu, so a file without it reads as `wall-clock`.
 */
export type ProfileMethod = 'wall-clock' | 'gpu-timestamp';

/** What each method means, written into the profile as `measure` for a person reading it. */
export const kMeasures: Readonly<Record<ProfileMethod, string>> = {
  'wall-clock': 'wall-clock per kernel, synchronous backend',
  'gpu-timestamp':
    'GPU time per kernel: timestamp queries around each compute dispatch it launched, each dispatch in a pass of its own, summed; launch gaps excluded, not a wall-clock time',
};

export interface BatchProfile extends FitFigures {
  /** sha1 of the kernel sequence's canonical text (names and input shapes) at this batch size. */
  sequenceHash: string;
  kernelCount: number;
  /**
   * Median wall time of a whole `predict`, kernels and the JS between them (for comparison only); on webgpu
   * until the GPU finished, with every dispatch timed and submitted alone, so slower than serving.
   */
  wallMs: number;
}

export interface KernelProfile extends LinearFit {
  name: string;
  /** Input shape template, e.g. `[N,16,16,3][3,3,3,8]` (see sequence.ts). */
  shapes: string;
  /** Median measured cost at each of `batches`, in the same order. */
  measuredMs: number[];
}

export interface Profile {
  schemaVersion: typeof kProfileSchemaVersion;
  fingerprint: DeviceFingerprint;
  model: { id: string; source: string };
  method: ProfileMethod;
  /** `method` in words (kMeasures). */
  measure: string;
  createdAt: string;
  runs: number;
  warmupRuns: number;
  /** `position`: one fit per kernel position; `name`: positions did not line up, fits per kernel name only. */
  alignment: 'position' | 'name';
  /** Why the profile is fitted per name, when it is. */
  note?: string;
  /** Ascending batch sizes. */
  batches: BatchProfile[];
  /** One per kernel position in launch order; empty when `alignment` is `name`. */
  kernels: KernelProfile[];
  nameAverages: Record<string, NameAverage>;
}

export const profilePath = (dir: string, fingerprintId: string, modelId: string) =>
  join(dir, fingerprintId, `${modelId}.json`);

/** Keeps one kernel per line, so a profile reads (and diffs) as a table. */
export function formatProfile(profile: Profile): string {
  const kernels = profile.kernels.map((k) => `    ${JSON.stringify(k)}`).join(',\n');
  const text = JSON.stringify({ ...profile, kernels: '\u0000' }, null, 2);
  return text.replace('"\\u0000"', profile.kernels.length === 0 ? '[]' : `[\n${kernels}\n  ]`) + '\n';
}

export function writeProfile(path: string, profile: Profile): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, formatProfile(profile));
}

export function readProfile(path: string): Profile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw Errors.invalidProfile(path, '$', `cannot be read: ${(error as Error).message}`);
  }
  return parseProfile(text, path);
}

export function parseProfile(text: string, file: string): Profile {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw Errors.invalidProfile(file, '$', `is not valid JSON (truncated?): ${(error as Error).message}`);
  }
  validateProfile(value, file);
  return { ...value, method: value.method ?? 'wall-clock' };
}

/** A profile as it may be on disk: written before `method` existed, it has none. */
export type StoredProfile = Omit<Profile, 'method'> & { method?: ProfileMethod };

type Check = (value: unknown, key: string) => void;

/** Throws INVALID_CONFIG at the first key that does not fit the schema. */
export function validateProfile(value: unknown, file: string): asserts value is StoredProfile {
  const fail = (key: string, why: string): never => {
    throw Errors.invalidProfile(file, key, why);
  };
  const describe = (v: unknown) => (Array.isArray(v) ? 'an array' : v === null ? 'null' : typeof v);
  const object: Check = (v, key) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(key, `must be an object, got ${describe(v)}`);
  };
  const string: Check = (v, key) => {
    if (typeof v !== 'string' || v.length === 0) fail(key, `must be a non-empty string, got ${describe(v)}`);
  };
  const finite: Check = (v, key) => {
    if (typeof v !== 'number' || !Number.isFinite(v))
      fail(key, `must be a finite number, got ${describe(v)} ${JSON.stringify(v)}`);
  };
  const cost: Check = (v, key) => {
    finite(v, key);
    if ((v as number) < 0) fail(key, `is a cost and must not be negative, got ${String(v)}`);
  };
  const count =
    (min: number): Check =>
    (v, key) => {
      if (!Number.isInteger(v) || (v as number) < min)
        fail(key, `must be an integer >= ${min}, got ${JSON.stringify(v)}`);
    };
  const array = (v: unknown, key: string): unknown[] => {
    if (!Array.isArray(v)) fail(key, `must be an array, got ${describe(v)}`);
    return v as unknown[];
  };
  const field = (o: Record<string, unknown>, name: string, check: Check, at: string) => {
    const key = at === '' ? name : `${at}.${name}`;
    if (!(name in o) || o[name] === undefined) fail(key, 'is missing');
    check(o[name], key);
    return o[name];
  };

  object(value, '$');
  const p = value as Record<string, unknown>;
  field(
    p,
    'schemaVersion',
    (v, key) => {
      if (v !== kProfileSchemaVersion)
        fail(key, `is ${JSON.stringify(v)}; this build reads version ${kProfileSchemaVersion}`);
    },
    '',
  );
  const fp = field(p, 'fingerprint', object, '') as Record<string, unknown>;
  for (const name of ['id', 'backend', 'cpu', 'tfjs']) field(fp, name, string, 'fingerprint');
  const flags = field(fp, 'flags', object, 'fingerprint') as Record<string, unknown>;
  for (const [name, flag] of Object.entries(flags)) {
    if (!['boolean', 'number', 'string'].includes(typeof flag))
      fail(`fingerprint.flags.${name}`, `must be a boolean, number or string, got ${describe(flag)}`);
  }
  const model = field(p, 'model', object, '') as Record<string, unknown>;
  field(model, 'id', string, 'model');
  field(model, 'source', string, 'model');
  if (p.method !== undefined && !(typeof p.method === 'string' && Object.hasOwn(kMeasures, p.method))) {
    fail(
      'method',
      `must be one of ${Object.keys(kMeasures)
        .map((m) => JSON.stringify(m))
        .join(', ')}, got ${JSON.stringify(p.method)}`,
    );
  }
  field(p, 'measure', string, '');
  field(p, 'createdAt', string, '');
  field(p, 'runs', count(1), '');
  field(p, 'warmupRuns', count(0), '');
  field(
    p,
    'alignment',
    (v, key) => {
      if (v !== 'position' && v !== 'name') fail(key, `must be "position" or "name", got ${JSON.stringify(v)}`);
    },
    '',
  );
  if (p.note !== undefined) string(p.note, 'note');

  const batches = array(
    field(p, 'batches', () => {}, ''),
    'batches',
  );
  if (batches.length === 0) fail('batches', 'must list at least one batch size');
  let previous = 0;
  batches.forEach((entry, i) => {
    const at = `batches[${i}]`;
    object(entry, at);
    const b = entry as Record<string, unknown>;
    const batch = field(b, 'batch', count(1), at) as number;
    if (batch <= previous) fail(`${at}.batch`, `must be greater than the batch size before it (${previous})`);
    previous = batch;
    field(
      b,
      'sequenceHash',
      (v, key) => {
        if (typeof v !== 'string' || !/^[0-9a-f]{40}$/.test(v))
          fail(key, `must be a sha1 in hex, got ${JSON.stringify(v)}`);
      },
      at,
    );
    field(b, 'kernelCount', count(0), at);
    for (const name of ['measuredTotalMs', 'predictedTotalMs', 'wallMs']) field(b, name, cost, at);
    field(b, 'errorPct', finite, at);
  });

  const kernels = array(
    field(p, 'kernels', () => {}, ''),
    'kernels',
  );
  if (p.alignment === 'position') {
    batches.forEach((entry, i) => {
      const kernelCount = (entry as { kernelCount: number }).kernelCount;
      if (kernelCount !== kernels.length)
        fail(`batches[${i}].kernelCount`, `is ${kernelCount} but kernels lists ${kernels.length} positions`);
    });
  } else if (kernels.length > 0) {
    fail('kernels', 'must be empty when alignment is "name"');
  }
  kernels.forEach((entry, i) => {
    const at = `kernels[${i}]`;
    object(entry, at);
    const k = entry as Record<string, unknown>;
    field(k, 'name', string, at);
    field(
      k,
      'shapes',
      (v, key) => {
        if (typeof v !== 'string' || !/^(\[[^\]]*\])*$/.test(v))
          fail(key, `must be a shape template like "[N,16,16,3][3,3,3,8]", got ${JSON.stringify(v)}`);
      },
      at,
    );
    field(k, 'aMs', finite, at);
    field(k, 'bMs', finite, at);
    const measured = array(
      field(k, 'measuredMs', () => {}, at),
      `${at}.measuredMs`,
    );
    if (measured.length !== batches.length)
      fail(`${at}.measuredMs`, `must have one cost per batch size (${batches.length}), got ${measured.length}`);
    measured.forEach((v, j) => cost(v, `${at}.measuredMs[${j}]`));
  });

  const averages = field(p, 'nameAverages', object, '') as Record<string, unknown>;
  for (const [name, entry] of Object.entries(averages)) {
    const at = `nameAverages.${name}`;
    object(entry, at);
    const a = entry as Record<string, unknown>;
    field(a, 'aMs', finite, at);
    field(a, 'bMs', finite, at);
    field(a, 'perInference', count(1), at);
  }
  kernels.forEach((entry, i) => {
    const name = (entry as { name: string }).name;
    if (!(name in averages)) fail(`kernels[${i}].name`, `is ${JSON.stringify(name)}, which nameAverages does not list`);
  });
}
