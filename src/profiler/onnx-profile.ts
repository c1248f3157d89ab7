/**
 * Profiles of ONNX models: a run cannot be seen kernel by kernel from outside onnxruntime, so the profile is
 * the whole run's cost at several batch sizes, fitted to a + b·batch (Olympian's observation, as for TF.js
 * kernels). Written by `olympian profile <model.onnx>` to `profiles/<fingerprint>/<model>.json` beside the
 * TF.js profiles; the fingerprint names the runtime's version, its providers, the intra-op threads and the
 * CPU, since a cost carries over only where all of them are the same.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { readOnnxFile } from '../onnx/model-file.js';
import { OnnxModel } from '../onnx/onnx-model.js';
import { loadOrt, ortVersion } from '../onnx/ort.js';
import { zeroTensor } from '../onnx/probe.js';
import { Errors } from '../protocol/errors.js';

export const kOnnxProfileSchema = 'olympian-onnx-profile/1';

export interface OnnxFingerprint {
  /** `onnxruntime-<providers>-<8 hex>`. */
  id: string;
  onnxruntime: string;
  providers: string[];
  intraOpThreads: number;
  cpu: string;
}

export interface OnnxProfile {
  schema: typeof kOnnxProfileSchema;
  model: { id: string; source: string };
  fingerprint: OnnxFingerprint;
  /** Whole-run cost = aMs + bMs · batch, least squares over the batches measured. */
  fit: { aMs: number; bMs: number };
  batches: Array<{ batch: number; runs: number; medianMs: number; predictedMs: number; errorPct: number }>;
}

export function onnxFingerprint(
  version: string,
  providers: readonly string[],
  intraOpThreads: number,
): OnnxFingerprint {
  const cpu = (cpus()[0]?.model ?? 'unknown').replace(/\s+/g, ' ').trim();
  const parts = { onnxruntime: version, providers: [...providers], intraOpThreads, cpu };
  const hash = createHash('sha1').update(JSON.stringify(parts)).digest('hex').slice(0, 8);
  return { id: `onnxruntime-${providers.join('+')}-${hash}`, ...parts };
}

/** `net` for net.onnx, `mymodel` for mymodel/ or mymodel/model.onnx. */
export function onnxModelId(source: string): string {
  const path = source
    .replace(/^[a-z]+:\/\/[^/]*/i, '')
    .replace(/[?#].*$/, '')
    .replace(/\/+$/, '');
  const name = basename(path) === 'model.onnx' ? basename(dirname(path)) : basename(path).replace(/\.onnx$/i, '');
  return name.replace(/[^A-Za-z0-9_.@-]/g, '_') || 'model';
}

export const onnxProfilePath = (dir: string, fingerprint: OnnxFingerprint, source: string) =>
  join(dir, fingerprint.id, `${onnxModelId(source)}.json`);

/**
 * Least squares of cost on batch; with one batch size, all of it is the slope. A run never gets cheaper with
 * more items, so a falling line (noise, on a model too small for batching to show) is fitted flat instead.
 */
export function fitLine(points: Array<{ batch: number; ms: number }>): { aMs: number; bMs: number } {
  const n = points.length;
  const meanB = points.reduce((s, p) => s + p.batch, 0) / n;
  const meanMs = points.reduce((s, p) => s + p.ms, 0) / n;
  const sbb = points.reduce((s, p) => s + (p.batch - meanB) ** 2, 0);
  if (sbb === 0) return { aMs: 0, bMs: meanMs / meanB };
  const bMs = points.reduce((s, p) => s + (p.batch - meanB) * (p.ms - meanMs), 0) / sbb;
  if (bMs < 0) return { aMs: meanMs, bMs: 0 };
  return { aMs: meanMs - bMs * meanB, bMs };
}

/** This device's profile of the model: its fit, or null and why it is missing (the session then measures). */
export function loadOnnxCosts(
  dir: string,
  source: string,
  fingerprint: OnnxFingerprint,
): { path: string; fit: OnnxProfile['fit'] | null; warning?: string } {
  const path = onnxProfilePath(dir, fingerprint, source);
  if (!existsSync(path))
    return { path, fit: null, warning: `no profile of ${onnxModelId(source)} for ${fingerprint.id} (${path})` };
  let profile: OnnxProfile;
  try {
    profile = JSON.parse(readFileSync(path, 'utf8')) as OnnxProfile;
  } catch (error) {
    throw Errors.invalidProfile(path, '$', `is not JSON (${(error as Error).message})`);
  }
  if (profile.schema !== kOnnxProfileSchema)
    throw Errors.invalidProfile(path, 'schema', `must be ${kOnnxProfileSchema}, got ${JSON.stringify(profile.schema)}`);
  const { aMs, bMs } = profile.fit ?? {};
  if (!Number.isFinite(aMs) || !Number.isFinite(bMs) || (bMs as number) < 0)
    throw Errors.invalidProfile(path, 'fit', 'must hold finite aMs and bMs >= 0');
  return { path, fit: { aMs: aMs as number, bMs: bMs as number } };
}

export interface OnnxProfileOptions {
  model: string;
  batches: number[];
  runs: number;
  warmupRuns: number;
  out: string;
  providers?: string[];
  intraOpThreads?: number;
}

/** Runs the model at each batch size on zeros and writes its profile (the run's median per batch). */
export async function profileOnnx(options: OnnxProfileOptions): Promise<{ path: string; profile: OnnxProfile }> {
  const providers = options.providers ?? ['cpu'];
  const intraOpThreads = options.intraOpThreads ?? 1;
  const ort = await loadOrt();
  const file = await readOnnxFile(options.model);
  const model = await OnnxModel.load(ort, file, { providers, intraOpThreads });
  const points: Array<{ batch: number; ms: number }> = [];
  try {
    const fixed = model.signature.inputs.find((s) => typeof s.shape?.[0] === 'number');
    if (fixed && options.batches.some((b) => b !== fixed.shape![0]))
      throw Errors.invalidArgument('batch', `cannot vary: input ${fixed.name} has a fixed batch dimension`);
    for (const batch of options.batches) {
      const inputs = model.signature.inputs.map((s) => ({ name: s.name, dtype: s.dtype!, shape: s.shape ?? [] }));
      const feeds = Object.fromEntries(inputs.map((input) => [input.name, zeroTensor(ort, input, batch)]));
      const times: number[] = [];
      for (let run = 0; run < options.warmupRuns + options.runs; run++) {
        const start = performance.now();
        await model.run(feeds);
        if (run >= options.warmupRuns) times.push(performance.now() - start);
      }
      points.push({ batch, ms: times.sort((a, b) => a - b)[Math.floor(times.length / 2)] });
    }
  } finally {
    await model.release();
  }
  const fit = fitLine(points);
  const fingerprint = onnxFingerprint(ortVersion(ort), providers, intraOpThreads);
  const profile: OnnxProfile = {
    schema: kOnnxProfileSchema,
    model: { id: onnxModelId(options.model), source: options.model },
    fingerprint,
    fit,
    batches: points.map(({ batch, ms }) => {
      const predictedMs = fit.aMs + fit.bMs * batch;
      return { batch, runs: options.runs, medianMs: ms, predictedMs, errorPct: ((predictedMs - ms) / ms) * 100 };
    }),
  };
  const path = onnxProfilePath(options.out, fingerprint, options.model);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(profile, null, 2)}\n`);
  return { path, profile };
}

/** The profile as the command prints it: the fit, and per batch size measured against predicted. */
export function describeOnnxProfile(profile: OnnxProfile): string[] {
  const { aMs, bMs } = profile.fit;
  return [
    `${profile.model.id} on ${profile.fingerprint.id} (onnxruntime ${profile.fingerprint.onnxruntime}, ${profile.fingerprint.providers.join(', ')}, ${profile.fingerprint.cpu}): whole run ${aMs.toFixed(3)} + ${bMs.toFixed(3)}·batch ms`,
    ...profile.batches.map(
      (b) =>
        `  batch ${String(b.batch).padStart(3)}: measured ${b.medianMs.toFixed(2)} ms, fit ${b.predictedMs.toFixed(2)} ms, error ${b.errorPct >= 0 ? '+' : ''}${b.errorPct.toFixed(2)}%`,
    ),
  ];
}
