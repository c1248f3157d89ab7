/**
 * `olympian profile <model|path> --batch 1,2,4,8 [--backend wasm|cpu|webgpu] [--runs N] [--input-size N] [--out dir]`:
 * profiles a zoo model or a model on disk on this machine and writes its profile. The CLI wiring lives in
 * src/cli.ts; this is the whole command behind it.
 */
import cliProgress from 'cli-progress';
import { isZooModel, loadModel, type LoadedModel } from '../models/index.js';
import { Errors } from '../protocol/errors.js';
import { initBackend } from '../device/backend.js';
import { fingerprintFromBackend } from './fingerprint.js';
import { buildProfile } from './profile.js';
import { recordModel } from './record.js';
import { profilePath, writeProfile, type Profile } from './schema.js';
import { profileModelId } from './store.js';

export interface ProfileCommandOptions {
  /** A zoo model name (`resnet50`, `zoo:resnet50@64`) or a model.json path or URL. */
  model: string;
  /** Batch sizes, `1,2,4,8` or a list; at least two distinct ones (a line needs two points). */
  batch: string | readonly number[];
  /** wasm and cpu: wall-clock per kernel; webgpu: GPU time per kernel from timestamp queries. Default wasm. */
  backend?: 'wasm' | 'cpu' | 'webgpu';
  /** Measured runs per batch size (default 5); the per-kernel cost is their median. */
  runs?: number;
  /** Dropped runs per batch size before measuring (default 2). */
  warmupRuns?: number;
  /** Zoo models: the input size to build at; models on disk: the size of open spatial dims. */
  inputSize?: number;
  /** Zoo models: the weight seed (default 0). */
  seed?: number;
  /** Profiles directory (default `profiles`). */
  out?: string;
  /** Progress bar on stderr (default: when stderr is a terminal). */
  progress?: boolean;
  /** Where the summary goes (default console.log); pass `() => {}` for none. */
  log?: (line: string) => void;
}

export interface ProfileCommandResult {
  path: string;
  profile: Profile;
}

export function parseBatchSizes(value: string | readonly number[]): number[] {
  const list =
    typeof value === 'string'
      ? value
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s !== '')
          .map(Number)
      : [...value];
  if (list.some((b) => !Number.isInteger(b) || b < 1))
    throw Errors.invalidArgument('batch', `must be integers >= 1, got ${JSON.stringify(value)}`);
  const unique = [...new Set(list)].sort((a, b) => a - b);
  if (unique.length < 2)
    throw Errors.invalidArgument(
      'batch',
      `needs at least two distinct batch sizes to fit cost = a + b·batch, got ${JSON.stringify(value)}`,
    );
  return unique;
}

function positiveInteger(field: string, value: number | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < min)
    throw Errors.invalidArgument(field, `must be an integer >= ${min}, got ${value}`);
  return value;
}

export async function runProfileCommand(options: ProfileCommandOptions): Promise<ProfileCommandResult> {
  const batches = parseBatchSizes(options.batch);
  const runs = positiveInteger('runs', options.runs, 5, 1);
  const warmupRuns = positiveInteger('warmupRuns', options.warmupRuns, 2, 0);
  if (options.inputSize !== undefined) positiveInteger('inputSize', options.inputSize, 0, 1);
  const backendName = options.backend ?? 'wasm';
  if (backendName !== 'wasm' && backendName !== 'cpu' && backendName !== 'webgpu') {
    throw Errors.invalidArgument(
      'backend',
      `must be wasm, cpu or webgpu for profiling, got ${JSON.stringify(backendName)}`,
    );
  }
  const log = options.log ?? ((line: string) => console.log(line));

  const backend = await initBackend(backendName);
  const fingerprint = fingerprintFromBackend(backend);
  const zoo = /^(?:zoo:)?([a-z0-9_]+)(?:@(\d+))?$/.exec(options.model);
  const zooName = zoo && isZooModel(zoo[1]) ? zoo[1] : undefined;
  const inputSize = options.inputSize ?? (zoo?.[2] === undefined ? undefined : Number(zoo[2]));
  const source = zooName === undefined ? options.model : { zoo: zooName, inputSize, seed: options.seed };
  const modelId = profileModelId(zooName === undefined ? options.model : { zoo: zooName, inputSize });

  const model: LoadedModel = await loadModel(source);
  const bar =
    (options.progress ?? process.stderr.isTTY === true)
      ? new cliProgress.SingleBar(
          {
            stream: process.stderr,
            format: `profile ${modelId} [{bar}] {value}/{total} runs · {eta_formatted} left`,
            hideCursor: true,
          },
          cliProgress.Presets.shades_classic,
        )
      : null;
  let profile: Profile;
  try {
    bar?.start((warmupRuns + runs) * batches.length, 0);
    const recordings = await recordModel(model, {
      batches,
      runs,
      warmupRuns,
      inputSize: zooName === undefined ? options.inputSize : undefined,
      onRun: (done) => bar?.update(done),
    });
    profile = buildProfile(recordings, { fingerprint, model: { id: modelId, source: model.source }, warmupRuns });
  } finally {
    bar?.stop();
    model.dispose();
  }

  const path = profilePath(options.out ?? 'profiles', fingerprint.id, modelId);
  writeProfile(path, profile);
  const device = typeof fingerprint.flags.description === 'string' ? fingerprint.flags.description : fingerprint.cpu;
  log(
    `${modelId} on ${fingerprint.id} (${fingerprint.backend}, ${device}): ${profile.kernels.length || 'per-name'} kernels, ${profile.alignment} fit${profile.note ? ` (${profile.note})` : ''}`,
  );
  log(`  per-kernel cost: ${profile.measure}`);
  for (const b of profile.batches) {
    log(
      `  batch ${String(b.batch).padStart(3)}: measured ${b.measuredTotalMs.toFixed(2)} ms, fit ${b.predictedTotalMs.toFixed(2)} ms, error ${b.errorPct >= 0 ? '+' : ''}${b.errorPct.toFixed(2)}%, wall ${b.wallMs.toFixed(2)} ms`,
    );
  }
  log(`wrote ${path}`);
  return { path, profile };
}
