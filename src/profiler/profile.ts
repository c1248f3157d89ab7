/**
 * From recordings to a profile: per batch size the sequence hash and totals, per kernel position the fit
 * a + b·batch and its shape template, per kernel name the average fit (the fallback).
 *
 * Positions are fitted one by one only when they line up: every run of every batch size launched the same
 * kernel names in the same order. Otherwise the profile is fitted per kernel name and says why in `note`.
 */
import type { DeviceFingerprint } from './fingerprint.js';
import { fitByName, fitPositions, median, type FitFigures, type NamedCost } from './fit.js';
import { medianCostsMs, runsAgree, type BatchRecording } from './record.js';
import { kMeasures, kProfileSchemaVersion, type BatchProfile, type KernelProfile, type Profile } from './schema.js';
import { sameNames, sequenceHash, shapeTemplate } from './sequence.js';

export interface ProfileMeta {
  fingerprint: DeviceFingerprint;
  model: { id: string; source: string };
  warmupRuns: number;
  /** Default: now. */
  createdAt?: string;
}

/** Four decimals of a millisecond is a tenth of a microsecond: below what a timer on these backends resolves. */
const roundMs = (value: number) => Number(value.toFixed(4));
const roundCoefficient = (value: number) => Number(value.toPrecision(6));
const roundPct = (value: number) => Number(value.toFixed(3));

export function buildProfile(recordings: readonly BatchRecording[], meta: ProfileMeta): Profile {
  const sorted = [...recordings].sort((a, b) => a.batch - b.batch);
  const batches = sorted.map((r) => r.batch);
  if (new Set(batches).size < 2 || new Set(batches).size !== batches.length) {
    throw new RangeError(`a profile needs at least two distinct batch sizes, got [${batches.join(', ')}]`);
  }
  const methods = new Set(sorted.map((r) => r.method));
  if (methods.size !== 1)
    throw new RangeError(`recordings made by different methods (${[...methods].join(', ')}) cannot be fitted together`);
  const method = sorted[0].method;
  const runs = Math.min(...sorted.map((r) => r.runs.length));
  if (runs < 1) throw new RangeError('a profile needs at least one measured run per batch size');

  const reference = sorted[0].runs[0].launches;
  const disagreeing = sorted.filter((r) => !runsAgree(r)).map((r) => r.batch);
  const misaligned = sorted.filter((r) => !sameNames(reference, r.runs[0].launches)).map((r) => r.batch);
  let note: string | undefined;
  if (disagreeing.length > 0)
    note = `runs launched different kernel sequences at batch ${disagreeing.join(', ')}; fitted per kernel name`;
  else if (misaligned.length > 0)
    note = `the kernel names or their order at batch ${misaligned.join(', ')} differ from batch ${batches[0]}; fitted per kernel name`;

  // Per-name fits take each batch size's per-position medians when its runs agree; when they do not, there
  // are no positions to take medians over, so the run of median wall time stands for the batch size.
  const named: NamedCost[][] = sorted.map((r) => {
    if (runsAgree(r)) {
      const costs = medianCostsMs(r);
      return r.runs[0].launches.map((l, p) => ({ name: l.name, costMs: costs[p] }));
    }
    const run = [...r.runs].sort((a, b) => a.wallMs - b.wallMs)[r.runs.length >> 1];
    return run.launches.map((l, p) => ({ name: l.name, costMs: run.costsMs[p] }));
  });
  const byName = fitByName(batches, named);

  let kernels: KernelProfile[] = [];
  let figures: FitFigures[] = byName.figures;
  if (note === undefined) {
    const costs = sorted.map(medianCostsMs);
    const fitted = fitPositions(batches, costs);
    figures = fitted.figures;
    kernels = reference.map((launch, p) => ({
      name: launch.name,
      shapes: shapeTemplate(
        batches,
        sorted.map((r) => r.runs[0].launches[p]),
      ).slice(launch.name.length),
      aMs: roundCoefficient(fitted.fits[p].aMs),
      bMs: roundCoefficient(fitted.fits[p].bMs),
      measuredMs: costs.map((row) => roundMs(row[p])),
    }));
  }

  const batchProfiles: BatchProfile[] = sorted.map((r, j) => ({
    batch: r.batch,
    sequenceHash: sequenceHash(r.runs[0].launches),
    kernelCount: r.runs[0].launches.length,
    measuredTotalMs: roundMs(figures[j].measuredTotalMs),
    predictedTotalMs: roundMs(figures[j].predictedTotalMs),
    errorPct: roundPct(figures[j].errorPct),
    wallMs: roundMs(median(r.runs.map((run) => run.wallMs))),
  }));
  const nameAverages = Object.fromEntries(
    Object.entries(byName.averages).map(([name, a]) => [
      name,
      { aMs: roundCoefficient(a.aMs), bMs: roundCoefficient(a.bMs), perInference: a.perInference },
    ]),
  );

  const profile: Profile = {
    schemaVersion: kProfileSchemaVersion,
    fingerprint: meta.fingerprint,
    model: meta.model,
    method,
    measure: kMeasures[method],
    createdAt: meta.createdAt ?? new Date().toISOString(),
    runs,
    warmupRuns: meta.warmupRuns,
    alignment: note === undefined ? 'position' : 'name',
    batches: batchProfiles,
    kernels,
    nameAverages,
  };
  if (note !== undefined) profile.note = note;
  return profile;
}
