/**
 * The cost model: each kernel costs a + b·batch (Olympian's observation that DNN cost is close to linear in
 * batch size), fitted by least squares over the profiled batch sizes. Pure arithmetic, no TF.js.
 *
 * The fit is least squares on raw costs, so a + b·batch can come out slightly negative at a batch size
 * below the profiled range for a kernel whose cost barely moves; a kernel cannot cost less than nothing,
 * so predictions clamp at 0 (and the error figures use the clamped predictions, as the gate charges them).
 */

export interface LinearFit {
  /** Fixed cost per launch (launch overhead, weights) in ms. */
  aMs: number;
  /** Cost per batch item in ms. */
  bMs: number;
}

export interface FitFigures {
  batch: number;
  /** What was measured at this batch size: the sum of the per-kernel medians. */
  measuredTotalMs: number;
  /** What the fit predicts for the whole inference at this batch size. */
  predictedTotalMs: number;
  /** (predicted − measured) / measured in percent; positive means the fit overcharges. */
  errorPct: number;
}

export const predictMs = (fit: LinearFit, batch: number) => Math.max(0, fit.aMs + fit.bMs * batch);

export const errorPct = (predictedMs: number, measuredMs: number) =>
  measuredMs > 0 ? ((predictedMs - measuredMs) / measuredMs) * 100 : predictedMs > 0 ? Infinity : 0;

/** Least squares of `costsMs[i] ≈ a + b·batches[i]`; needs two distinct batch sizes. */
export function fitLine(batches: readonly number[], costsMs: readonly number[]): LinearFit {
  const n = batches.length;
  let meanX = 0;
  let meanY = 0;
  for (let i = 0; i < n; i++) {
    meanX += batches[i] / n;
    meanY += costsMs[i] / n;
  }
  let sxx = 0;
  let sxy = 0;
  for (let i = 0; i < n; i++) {
    sxx += (batches[i] - meanX) ** 2;
    sxy += (batches[i] - meanX) * (costsMs[i] - meanY);
  }
  if (!(sxx > 0)) throw new RangeError('a linear fit needs at least two distinct batch sizes');
  const bMs = sxy / sxx;
  return { aMs: meanY - bMs * meanX, bMs };
}

/**
 * One fit per kernel position. `costsMs[j][p]` is the cost of position p at `batches[j]`; every row has
 * the same length (the positions line up across batch sizes: checked by the caller).
 */
export function fitPositions(
  batches: readonly number[],
  costsMs: readonly (readonly number[])[],
): { fits: LinearFit[]; figures: FitFigures[] } {
  const positions = costsMs[0]?.length ?? 0;
  const fits: LinearFit[] = [];
  for (let p = 0; p < positions; p++)
    fits.push(
      fitLine(
        batches,
        costsMs.map((row) => row[p]),
      ),
    );
  const figures = batches.map((batch, j) => {
    const measuredTotalMs = sum(costsMs[j]);
    const predictedTotalMs = sum(fits.map((fit) => predictMs(fit, batch)));
    return { batch, measuredTotalMs, predictedTotalMs, errorPct: errorPct(predictedTotalMs, measuredTotalMs) };
  });
  return { fits, figures };
}

export interface NameAverage extends LinearFit {
  /** Launches of this kernel per inference (at the first profiled batch size). */
  perInference: number;
}

/** One kernel's cost at one batch size, for fits by name. */
export interface NamedCost {
  name: string;
  costMs: number;
}

/**
 * One fit per kernel name, on the mean cost of that name's launches at each batch size: the fallback for a
 * sequence the profile does not know, and the whole profile when positions do not line up across batch
 * sizes. A name missing at some batch size is fitted on the batch sizes where it occurs (or, seen at only
 * one, charged its mean there at every batch size).
 */
export function fitByName(
  batches: readonly number[],
  sequences: readonly (readonly NamedCost[])[],
): { averages: Record<string, NameAverage>; figures: FitFigures[] } {
  const perBatch = sequences.map((sequence) => {
    const byName = new Map<string, { totalMs: number; count: number }>();
    for (const { name, costMs } of sequence) {
      const entry = byName.get(name) ?? { totalMs: 0, count: 0 };
      entry.totalMs += costMs;
      entry.count++;
      byName.set(name, entry);
    }
    return byName;
  });
  const names = [...new Set(sequences.flatMap((sequence) => sequence.map((c) => c.name)))].sort();
  const averages: Record<string, NameAverage> = {};
  for (const name of names) {
    const xs: number[] = [];
    const ys: number[] = [];
    perBatch.forEach((byName, j) => {
      const entry = byName.get(name);
      if (entry) {
        xs.push(batches[j]);
        ys.push(entry.totalMs / entry.count);
      }
    });
    const fit = new Set(xs).size >= 2 ? fitLine(xs, ys) : { aMs: sum(ys) / ys.length, bMs: 0 };
    const first = perBatch.find((byName) => byName.has(name))!.get(name)!;
    averages[name] = { ...fit, perInference: first.count };
  }
  const figures = batches.map((batch, j) => {
    const measuredTotalMs = sum(sequences[j].map((c) => c.costMs));
    let predictedTotalMs = 0;
    for (const [name, entry] of perBatch[j]) predictedTotalMs += entry.count * predictMs(averages[name], batch);
    return { batch, measuredTotalMs, predictedTotalMs, errorPct: errorPct(predictedTotalMs, measuredTotalMs) };
  });
  return { averages, figures };
}

export function sum(values: readonly number[]): number {
  let total = 0;
  for (const value of values) total += value;
  return total;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
