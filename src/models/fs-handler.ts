/**
 * A `tf.io.IOHandler` on Node's `fs`: Node's fetch cannot read file:// URLs and tfjs-node (which ships
 * one) is not a dependency. Loading checks everything TF.js would otherwise trip over later, or not at
 * all: unreadable or malformed model.json, missing shards, shards whose total size disagrees with the
 * manifest. Each failure is a MODEL_LOAD_FAILED naming the file at fault.
 */
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import * as tf from '../device/tfjs.js';
import { Errors } from '../protocol/errors.js';

export const MODEL_JSON = 'model.json';
export const WEIGHTS_BIN = 'weights.bin';

const loadFailed = Errors.modelLoadFailed;

const DTYPE_BYTES: Record<string, number> = {
  float32: 4,
  int32: 4,
  bool: 1,
  complex64: 8,
  uint8: 1,
  uint16: 2,
  float16: 2,
};

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Byte size of one manifest entry, or undefined for strings (variable length). */
function entryBytes(entry: tf.io.WeightsManifestEntry, file: string): number | undefined {
  const shapeOk = Array.isArray(entry.shape) && entry.shape.every((d) => Number.isInteger(d) && d >= 0);
  if (typeof entry.name !== 'string' || !shapeOk) {
    throw loadFailed(file, `malformed weights manifest entry ${JSON.stringify(entry).slice(0, 120)}`);
  }
  const stored = entry.quantization?.dtype ?? entry.dtype;
  if (stored === 'string') return undefined;
  const bytes = DTYPE_BYTES[stored];
  if (bytes === undefined)
    throw loadFailed(file, `weight ${JSON.stringify(entry.name)} has unknown dtype ${JSON.stringify(stored)}`);
  return entry.shape.reduce((a, b) => a * b, 1) * bytes;
}

/**
 * Checks a whole artifact's weight bytes against its specs, for handlers that do not (tf.io.http): a
 * truncated shard would otherwise surface as a RangeError, or as garbage weights.
 */
export function checkWeightBytes(artifacts: tf.io.ModelArtifacts, source: string): void {
  const specs = artifacts.weightSpecs ?? [];
  const sizes = specs.map((w) => entryBytes(w, source));
  if (sizes.some((s) => s === undefined)) return;
  const expected = (sizes as number[]).reduce((a, b) => a + b, 0);
  const data = artifacts.weightData;
  const actual =
    data === undefined ? 0 : (Array.isArray(data) ? data : [data]).reduce((sum, b) => sum + b.byteLength, 0);
  if (actual !== expected)
    throw loadFailed(source, `weight shards hold ${actual} bytes, the manifest expects ${expected}`);
}

function parseManifest(value: unknown, file: string): tf.io.WeightsManifestConfig {
  if (value === undefined) return [];
  const ok =
    Array.isArray(value) &&
    value.every(
      (g) =>
        isRecord(g) &&
        Array.isArray(g.paths) &&
        g.paths.every((p) => typeof p === 'string') &&
        Array.isArray(g.weights),
    );
  if (!ok) throw loadFailed(file, 'weightsManifest must be a list of { paths: string[], weights: [...] } groups');
  return value as tf.io.WeightsManifestConfig;
}

async function readShard(path: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw loadFailed(
      path,
      code === 'ENOENT' ? 'weight shard is missing' : `weight shard is unreadable (${code ?? error})`,
    );
  }
}

/** Reads every group's shards and checks each group's total against its manifest entries. */
async function loadWeights(
  manifest: tf.io.WeightsManifestConfig,
  dir: string,
  file: string,
): Promise<[tf.io.WeightsManifestEntry[], ArrayBuffer]> {
  const specs: tf.io.WeightsManifestEntry[] = [];
  const chunks: Uint8Array[] = [];
  for (const group of manifest) {
    const sizes = group.weights.map((w) => entryBytes(w, file));
    const paths = group.paths.map((p) => resolve(dir, p));
    const shards = await Promise.all(paths.map(readShard));
    const actual = shards.reduce((sum, s) => sum + s.byteLength, 0);
    if (sizes.every((s) => s !== undefined)) {
      const expected = (sizes as number[]).reduce((a, b) => a + b, 0);
      if (actual !== expected) {
        // Shards split a group at arbitrary offsets, so only the total is checkable: blame the last shard.
        const last = paths[paths.length - 1] ?? file;
        throw loadFailed(
          last,
          `weight shard${paths.length > 1 ? 's' : ''} ${group.paths.join(', ')} hold ${actual} bytes, the manifest in ${file} expects ${expected}`,
        );
      }
    }
    specs.push(...group.weights);
    chunks.push(...shards);
  }
  const data = new Uint8Array(chunks.reduce((sum, c) => sum + c.byteLength, 0));
  let offset = 0;
  for (const chunk of chunks) {
    data.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return [specs, data.buffer];
}

/**
 * Where JSON text stops being valid, as a byte offset. V8's messages quote the text they failed on, which
 * must not reach a client (the file may be anything, /etc/passwd included), and some give no position. A
 * prefix of the text is broken when it fails before its own end, and every prefix past the first bad
 * character is, so a binary search over prefix lengths finds it.
 */
function firstInvalidByte(text: string): number {
  const brokenAt = (length: number) => {
    try {
      JSON.parse(text.slice(0, length));
      return false;
    } catch (error) {
      const message = (error as Error).message;
      const position = /at position (\d+)/.exec(message);
      if (position) return Number(position[1]) < length;
      return !/Unexpected end of JSON input/.test(message);
    }
  };
  let low = 1;
  let high = text.length;
  if (!brokenAt(high)) return Buffer.byteLength(text);
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (brokenAt(mid)) high = mid;
    else low = mid + 1;
  }
  return Buffer.byteLength(text.slice(0, low - 1));
}

/** Reads and validates model.json (a directory means its model.json), then its weights. */
export async function readModelArtifacts(path: string): Promise<tf.io.ModelArtifacts> {
  let file = resolve(path);
  let text: string;
  try {
    if ((await stat(file)).isDirectory()) file = join(file, MODEL_JSON);
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw loadFailed(file, code === 'ENOENT' ? 'no such file' : `unreadable (${code ?? error})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw loadFailed(file, `malformed JSON: not valid JSON at byte ${firstInvalidByte(text)}`);
  }
  if (!isRecord(json) || !isRecord(json.modelTopology)) {
    throw loadFailed(file, 'not a TF.js model.json (no modelTopology object)');
  }
  const manifest = parseManifest(json.weightsManifest, file);
  const modelJSON = { ...json, weightsManifest: manifest } as unknown as tf.io.ModelJSON;
  return tf.io.getModelArtifactsForJSON(modelJSON, (m) => loadWeights(m, dirname(file), file));
}

function joinWeightData(data: tf.io.WeightData | undefined): Uint8Array {
  if (data === undefined) return new Uint8Array(0);
  return new Uint8Array(tf.io.CompositeArrayBuffer.join(data));
}

/** Writes model.json and one weights.bin into `dir`, as tfjs-node's file:// handler does. */
async function saveModelArtifacts(dir: string, artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
  if (artifacts.modelTopology instanceof ArrayBuffer) {
    throw Errors.invalidArgument('modelTopology', 'is binary; only JSON topologies can be saved as model.json');
  }
  await mkdir(dir, { recursive: true });
  const weights = joinWeightData(artifacts.weightData);
  const manifest: tf.io.WeightsManifestConfig = [{ paths: [WEIGHTS_BIN], weights: artifacts.weightSpecs ?? [] }];
  const { weightData: _data, weightSpecs: _specs, ...rest } = artifacts;
  const modelJSON = { ...rest, weightsManifest: manifest };
  await writeFile(join(dir, WEIGHTS_BIN), weights);
  await writeFile(join(dir, MODEL_JSON), JSON.stringify(modelJSON));
  return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
}

/**
 * An IOHandler for `tf.loadLayersModel`, `tf.loadGraphModel` and `model.save`. For loading, `path` is a
 * model.json or the directory holding one; for saving, the directory to write into.
 */
export function fileSystemHandler(path: string): tf.io.IOHandler {
  return {
    load: () => readModelArtifacts(path),
    save: (artifacts) => saveModelArtifacts(resolve(path), artifacts),
  };
}
