/**
 * What a session's next requests will cost, for deadlines: the device time of work (the `deadline` policy's
 * laxity, and admission's expectation with the device book) and how far admission's promise must sit above
 * that expectation. Device time comes from the profile's whole-run line a + b·batch when the session charges
 * a profile, else from what its batches were charged.
 *
 * The promise is calibrated: admission multiplies the expected wall time by a high quantile of what answered
 * requests took over what was expected of them (split conformal prediction); a queued request is dropped on
 * the median. A fixed margin (a mean deviation or two) cannot serve both ends of the load: it refuses requests
 * that would have made it at light load, where the errors are small, and admits late ones under overload.
 *
 * The window forgets answers older than kCalibrationMaxAgeMs. Only admitted requests are answered, so a
 * window that came to promise more than the SLO allows would otherwise refuse every request from then on and
 * never learn that things got better: in a full slo run, MobileNet-v2 (SLO 81 ms) was refused 98.5% of its
 * requests from the 0.8× load on, with a share of 1%. With fewer than kCalibrationMinimum answers left, the
 * promise is the expectation as it is again, and the answers that follow calibrate it anew.
 *
 * Forgetting by age alone still left spells: a few answers slowed by one stall put the 95th percentile past
 * the SLO, and the model was refused until they aged out, 10 s or ~300 MobileNet-v2 requests at 0.8× load
 * (attainment 0.82 in full runs where `fair` made 0.93). So a run of refusals with no admission between them
 * is taken as a sign that the window's worst answers no longer describe the device: past kRefusalStreak
 * refusals in a row, each further refusal forgets the highest ratio. Under a real overload the requests let
 * in after that are answered late, their ratios come back, and refusals resume.
 */

import type { RunCostLine } from '../protocol/session-messages.js';

/** Outcomes of requests that carry a deadline; `shed` and `dropped` never reached the device. */
export const deadlineOutcomes = ['onTime', 'late', 'shed', 'dropped'] as const;
export type DeadlineOutcome = (typeof deadlineOutcomes)[number];
export type DeadlineCounts = Record<DeadlineOutcome, number>;

export const noDeadlineCounts = (): DeadlineCounts => ({ onTime: 0, late: 0, shed: 0, dropped: 0 });

/**
 * How a model admits requests with deadlines: `predicted` refuses one whose predicted answer is past its
 * deadline and drops a queued one that can no longer make it; `start` runs any request that starts in time.
 */
export type AdmissionMode = 'predicted' | 'start';

/** Weight of the newest batch in the running average of the charged cost per row. */
const kAlpha = 0.25;
/** Answered requests whose actual-over-expected ratios calibrate admission: a few seconds of a busy model. */
export const kCalibrationWindow = 100;
/** Fewer ratios than this and admission trusts the expectation as it is. */
export const kCalibrationMinimum = 20;
/** Answers older than this leave the window, ms: 100 answers of a busy model take a few seconds. */
export const kCalibrationMaxAgeMs = 10_000;
/** Refusals in a row after which each further one forgets the window's highest ratio. */
export const kRefusalStreak = 10;
/** The ratio's quantile that admission multiplies by: about one admitted request in 20 is slower than promised. */
export const kCalibrationQuantile = 0.95;

export class ServiceTime {
  readonly #maxBatch: number;
  #line: RunCostLine | null = null;
  #costPerRowMs = 0;
  #measured = false;
  /** The window's ratios in the order they came and when they came, and the same ratios sorted. */
  readonly #ratios: number[] = [];
  readonly #answeredAtMs: number[] = [];
  readonly #sorted: number[] = [];
  #promiseFactor = 1;
  #likelyFactor = 1;
  #refusedInARow = 0;

  constructor(maxBatch: number) {
    this.#maxBatch = Math.max(1, maxBatch);
  }

  /** The profile's line, once the session reports one (it then predicts device time from the start). */
  set line(line: RunCostLine | null) {
    this.#line = line;
  }

  /** Device time of `rows` rows, run in batches of at most maxBatch, ms. */
  costMs(rows: number): number {
    if (rows <= 0) return 0;
    if (this.#line) return Math.ceil(rows / this.#maxBatch) * this.#line.fixedMs + rows * this.#line.perItemMs;
    return rows * this.#costPerRowMs;
  }

  /** What admission promises for an expected wall time: scaled by the calibrated high quantile. */
  promisedMs(expectedMs: number): number {
    return expectedMs * this.#promiseFactor;
  }

  /** The likeliest wall time for an expectation, by the calibrated median. */
  likelyMs(expectedMs: number): number {
    return expectedMs * this.#likelyFactor;
  }

  /** A batch of `rows` was charged `chargedMs`. */
  batchDone(rows: number, chargedMs: number): void {
    if (rows <= 0) return;
    const cost = Math.max(0, chargedMs) / rows;
    this.#costPerRowMs = this.#measured ? this.#costPerRowMs + kAlpha * (cost - this.#costPerRowMs) : cost;
    this.#measured = true;
  }

  /** A request expected to take `expectedMs` took `actualMs`, answered at `nowMs`: one more ratio for the calibration. */
  answered(actualMs: number, expectedMs: number, nowMs: number): void {
    if (!(expectedMs > 0) || !(actualMs >= 0)) return;
    const ratio = actualMs / expectedMs;
    // Kept sorted as it slides (one removal, one insertion) rather than sorted again on every answer, which
    // is on the main thread's path of every request.
    if (this.#ratios.length === kCalibrationWindow) this.#dropAt(0);
    this.#sorted.splice(rankOf(this.#sorted, ratio), 0, ratio);
    this.#ratios.push(ratio);
    this.#answeredAtMs.push(nowMs);
    this.#calibrate();
  }

  /** Admission let a request in: a streak of refusals ends. */
  letIn(): void {
    this.#refusedInARow = 0;
  }

  /** Admission refused a request: past kRefusalStreak in a row, the window's highest ratio is forgotten. */
  refused(): void {
    this.#refusedInARow++;
    if (this.#refusedInARow <= kRefusalStreak || this.#sorted.length === 0) return;
    this.#dropAt(this.#ratios.lastIndexOf(this.#sorted[this.#sorted.length - 1]));
    this.#calibrate();
  }

  /** Answers older than kCalibrationMaxAgeMs at `nowMs` leave the window. */
  forget(nowMs: number): void {
    const oldest = nowMs - kCalibrationMaxAgeMs;
    if (!(this.#answeredAtMs[0] < oldest)) return;
    while (this.#answeredAtMs[0] < oldest) this.#dropAt(0);
    this.#calibrate();
  }

  /** Takes the window's answer at `index` (in the order they came) out of the window and its sorted copy. */
  #dropAt(index: number): void {
    const [ratio] = this.#ratios.splice(index, 1);
    this.#answeredAtMs.splice(index, 1);
    this.#sorted.splice(rankOf(this.#sorted, ratio), 1);
  }

  #calibrate(): void {
    const sorted = this.#sorted;
    if (sorted.length < kCalibrationMinimum) {
      this.#promiseFactor = 1;
      this.#likelyFactor = 1;
      return;
    }
    // The conformal quantile: rank ⌈(n + 1)·q⌉ of n (the largest ratio when n is too small for q).
    const quantile = (q: number) => sorted[Math.min(sorted.length, Math.ceil((sorted.length + 1) * q)) - 1];
    this.#promiseFactor = quantile(kCalibrationQuantile);
    this.#likelyFactor = quantile(0.5);
  }
}

/** The first index in ascending `sorted` whose value is not below `value` (where it goes, or where it is). */
function rankOf(sorted: number[], value: number): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (sorted[middle] < value) low = middle + 1;
    else high = middle;
  }
  return low;
}
