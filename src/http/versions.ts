/**
 * A model base path as TF-Serving lays it out: numbered version subdirectories, each a TF.js or ONNX model
 * (`<base>/1/model.json`, `<base>/2/model.onnx`, ...). Scanning only lists; loading is the registry's.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

export interface VersionDir {
  /** The number as a canonical string ("7" for a directory named 007). */
  version: string;
  path: string;
  /**
   * Names, sizes and modification times of the files in it: a version whose load failed is tried again
   * only once this changes (say, a copy that was still under way has finished).
   */
  fingerprint: string;
}

async function fingerprintOf(path: string): Promise<string> {
  const entries = await readdir(path, { withFileTypes: true });
  const parts: string[] = [];
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    if (!entry.isFile()) continue;
    const info = await stat(join(path, entry.name)).catch(() => null);
    parts.push(`${entry.name}:${info?.size ?? -1}:${info?.mtimeMs ?? -1}`);
  }
  return parts.join('|');
}

/** The version directories under `basePath`, newest first. Throws (ENOENT, ENOTDIR) if the base path is unreadable. */
export async function scanVersions(basePath: string): Promise<VersionDir[]> {
  const entries = await readdir(basePath, { withFileTypes: true });
  const seen = new Map<string, VersionDir>();
  for (const entry of entries) {
    if (!entry.isDirectory() || !/^\d{1,15}$/.test(entry.name)) continue;
    const version = String(Number(entry.name));
    if (seen.has(version)) continue;
    const path = join(basePath, entry.name);
    // A directory removed between readdir and here is simply not a version any more.
    const fingerprint = await fingerprintOf(path).catch(() => null);
    if (fingerprint !== null) seen.set(version, { version, path, fingerprint });
  }
  return [...seen.values()].sort((a, b) => Number(b.version) - Number(a.version));
}
