/** Small statistics for benches: medians, percentiles, spread, Jain's index. */

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

export const median = (values: readonly number[]) => percentile(values, 50);

export function spread(values: readonly number[]): { min: number; max: number } {
  return { min: Math.min(...values), max: Math.max(...values) };
}

/** Jain's fairness index of `shares` normalised by `targets` (equal targets when omitted): 1 is perfect. */
export function jainIndex(shares: readonly number[], targets?: readonly number[]): number {
  const x = shares.map((share, i) => share / (targets?.[i] ?? 1));
  const sum = x.reduce((a, b) => a + b, 0);
  const squares = x.reduce((a, b) => a + b * b, 0);
  return (sum * sum) / (x.length * squares);
}

/** Max over sessions of |share − target| / target, in percent. */
export function weightedMaxErrorPct(shares: readonly number[], targets: readonly number[]): number {
  return Math.max(...shares.map((share, i) => (Math.abs(share - targets[i]) / targets[i]) * 100));
}

export function normalise(values: readonly number[]): number[] {
  const total = values.reduce((a, b) => a + b, 0);
  return values.map((value) => value / total);
}

export const round = (value: number, digits = 3) => Number(value.toFixed(digits));
