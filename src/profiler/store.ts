/**
 * Where profiles live: `<dir>/<fingerprint id>/<model id>.json`. A model id names the model and, for zoo
 * models built at another than their default input size, that size (`resnet50@64`): a profile is only
 * about the shapes it was made with.
 */
import { existsSync, readdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { zooModels } from '../models/index.js';
import type { DeviceFingerprint } from './fingerprint.js';
import { profilePath, readProfile, type Profile } from './schema.js';

/** `zoo:<name>[@<size>]`, a bare zoo name, `{ zoo, inputSize }`, or a model path or URL. */
export function profileModelId(source: string | { zoo: string; inputSize?: number }): string {
  if (typeof source !== 'string') return zooId(source.zoo, source.inputSize);
  const zoo = /^(?:zoo:)?([a-z0-9_]+)(?:@(\d+))?$/.exec(source);
  if (zoo && zooModels.some((m) => m.name === zoo[1]))
    return zooId(zoo[1], zoo[2] === undefined ? undefined : Number(zoo[2]));
  const path = source
    .replace(/^[a-z]+:\/\/[^/]*/i, '')
    .replace(/[?#].*$/, '')
    .replace(/\/+$/, '');
  const name = basename(path) === 'model.json' ? basename(dirname(path)) : basename(path).replace(/\.json$/, '');
  return name.replace(/[^A-Za-z0-9_.@-]/g, '_') || 'model';
}

function zooId(name: string, inputSize?: number): string {
  const fallback = zooModels.find((m) => m.name === name)?.defaultInputSize;
  return inputSize === undefined || inputSize === fallback ? name : `${name}@${inputSize}`;
}

/**
 * This device's profile of `modelId`, else the same model's profile from another device (the plan then
 * falls back with a warning, and a webgpu session still gets relative costs), else null. A file that is
 * there but malformed is an error (INVALID_CONFIG), not a missing profile.
 */
export function locateProfile(
  dir: string,
  modelId: string,
  fingerprint: DeviceFingerprint,
): { path: string; profile: Profile } | null {
  const own = profilePath(dir, fingerprint.id, modelId);
  if (existsSync(own)) return { path: own, profile: readProfile(own) };
  if (!existsSync(dir)) return null;
  const others = readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => join(dir, entry.name, `${modelId}.json`))
    .filter((path) => existsSync(path))
    .sort();
  // Same backend first: its relative costs are the closest thing to this device's.
  const sameBackend = others.find((path) => basename(dirname(path)).startsWith(`${fingerprint.backend}-`));
  const path = sameBackend ?? others[0];
  return path === undefined ? null : { path, profile: readProfile(path) };
}
