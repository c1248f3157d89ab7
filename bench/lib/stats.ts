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

/** Student's t at 97.5% for 1..30 degrees of freedom (beyond: the normal 1.96). */
const t975 = [
  12.71, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11,
  2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
];

/** The mean of `values` and its 95% confidence interval (Student's t; needs at least two values). */
export function ci95(values: readonly number[]): { mean: number; low: number; high: number } {
  const n = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  if (n < 2) return { mean, low: Number.NaN, high: Number.NaN };
  const sd = Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / (n - 1));
  const half = ((t975[n - 2] ?? 1.96) * sd) / Math.sqrt(n);
  return { mean, low: mean - half, high: mean + half };
}
