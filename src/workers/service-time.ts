/**
 * What a session's next requests will cost, for deadlines: the device time of work (the `deadline` policy's
 * laxity) and the wall time until it is answered (admission). Device time comes from the profile's whole-run
 * line a + b·batch when the session charges a profile, else from what its batches were charged. Wall time is
 * measured: from a batch's start (its dispatch, or the previous batch's answer if that came later) to its
 * answer, per row — the run's cost and every wait for the token inside it, so it follows the load — plus
 * twice its mean deviation (a retransmission timer's margin, RFC 6298) × √rows (the spread of a sum of rows
 * grows with its square root): admission promises answers in time, so it predicts on the slow side. What the
 * waits add fades with time since the last answer: a model whose every request is refused gets no new
 * answers, and without the fade one bad spell would refuse it for good.
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

/** Weight of the newest batch in the running averages: a few batches follow a change of load. */
const kAlpha = 0.25;
/** Mean deviations of the wall time per row added to its mean. */
const kDeviations = 2;
/** Time constant (ms) with which measured waits stop counting when no answer comes to renew them. */
const kFadeMs = 1000;

export class ServiceTime {
  readonly #maxBatch: number;
  #line: RunCostLine | null = null;
  #costPerRowMs = 0;
  #wallPerRowMs = 0;
  #wallDeviationMs = 0;
  #measured = false;
  #lastAnswerAtMs = -Infinity;

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

  /**
   * Wall time until `rows` rows (those ahead and the request's own) are answered, from `nowMs`, ms. With
   * `deviations` 0, the expected time: a queued request is dropped only when it is expected to be late.
   */
  wallMs(rows: number, nowMs: number, deviations = kDeviations): number {
    const costMs = this.costMs(rows);
    const slowMs = rows * this.#wallPerRowMs + deviations * this.#wallDeviationMs * Math.sqrt(rows);
    const waitsMs = Math.max(0, slowMs - costMs);
    return costMs + waitsMs * Math.exp(-Math.max(0, nowMs - this.#lastAnswerAtMs) / kFadeMs);
  }

  /** Predicted clock (ms) at which a request of `rows`, behind `rowsAhead` rows, is answered. */
  completionAt(nowMs: number, rowsAhead: number, rows: number): number {
    return nowMs + this.wallMs(rowsAhead + rows, nowMs);
  }

  /** A batch of `rows` dispatched at `dispatchedAtMs`, answered at `nowMs`, charged `chargedMs`. */
  batchDone(dispatchedAtMs: number, nowMs: number, rows: number, chargedMs: number): void {
    const startedAtMs = Math.max(dispatchedAtMs, this.#lastAnswerAtMs);
    this.#lastAnswerAtMs = nowMs;
    if (rows <= 0) return;
    const wall = (nowMs - startedAtMs) / rows;
    const cost = Math.max(0, chargedMs) / rows;
    if (this.#measured) {
      this.#wallDeviationMs += kAlpha * (Math.abs(wall - this.#wallPerRowMs) - this.#wallDeviationMs);
      this.#wallPerRowMs += kAlpha * (wall - this.#wallPerRowMs);
    } else this.#wallPerRowMs = wall;
    this.#costPerRowMs = this.#measured ? this.#costPerRowMs + kAlpha * (cost - this.#costPerRowMs) : cost;
    this.#measured = true;
  }
}
