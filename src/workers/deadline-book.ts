/**
 * A session's deadline bookkeeping on the main thread: what admission predicts on arrival, which queued
 * requests can no longer be in time, what the model's most urgent request is (for the `deadline` policy),
 * and how each request with a deadline ended.
 */
import type { Pending, RequestQueue } from './request-queue.js';
import { noDeadlineCounts, ServiceTime, type AdmissionMode, type DeadlineOutcome } from './service-time.js';
import type { OlympianError } from '../protocol/errors.js';
import type { RunCostLine } from '../protocol/session-messages.js';

type OutcomeListener = (outcome: DeadlineOutcome, predictionErrorMs: number | undefined) => void;

const rowsOf = (batches: Pending[][]) =>
  batches.reduce((sum, batch) => sum + batch.reduce((rows, pending) => rows + pending.rows, 0), 0);

export class DeadlineBook {
  readonly counts = noDeadlineCounts();
  readonly #service: ServiceTime;
  readonly #onOutcome: OutcomeListener | undefined;
  /** The thread's charged total at the last answer: a batch's charge is what it grew by since. */
  #chargedAtLastAnswer = 0;

  constructor(maxBatch: number, onOutcome: OutcomeListener | undefined) {
    this.#service = new ServiceTime(maxBatch);
    this.#onOutcome = onOutcome;
  }

  /** The session is warm: its profile's line (if it charges one) and its charged total so far. */
  warm(line: RunCostLine | null, chargedMs: number): void {
    this.#service.line = line;
    this.#chargedAtLastAnswer = chargedMs;
  }

  /**
   * On arrival: when the request would be answered behind what the session holds, and whether it is refused
   * (a refusal is counted as shed). Returns how late it would be when refused, else null.
   */
  admit(
    now: number,
    ahead: { inFlight: Pending[][]; queue: RequestQueue },
    rows: number,
    deadlineAtMs: number | undefined,
    admission: AdmissionMode,
  ): { predictedAtMs: number; dropIfLate: boolean; refusedLateMs: number | null } {
    const predictedAtMs = this.#service.completionAt(now, rowsOf(ahead.inFlight) + ahead.queue.rows, rows);
    const dropIfLate = admission === 'predicted' && deadlineAtMs !== undefined;
    const refused = dropIfLate && predictedAtMs > deadlineAtMs;
    if (refused) this.#count('shed', undefined);
    return { predictedAtMs, dropIfLate, refusedLateMs: refused ? predictedAtMs - deadlineAtMs : null };
  }

  /**
   * Queued requests whose deadline passed, or (admitted by prediction) that can no longer be in time: expected
   * late, without the margin admission adds (a request admitted on the slow side is not dropped on it).
   */
  expire(now: number, inFlight: Pending[][], queue: RequestQueue): Pending[] {
    return queue.expire(now, (rows) => now + this.#service.wallMs(rows, now, 0), rowsOf(inFlight));
  }

  /** The most urgent request (deadline on the clock, Infinity: none) and the device time up to and including it. */
  head(inFlight: Pending[][], queue: RequestQueue): { deadlineAtMs: number; costMs: number } {
    let best = queue.earliestDeadline(rowsOf(inFlight));
    let rows = 0;
    for (const pending of inFlight.flat()) {
      rows += pending.rows;
      if (pending.deadlineAtMs !== undefined && pending.deadlineAtMs < best.deadlineAtMs)
        best = { deadlineAtMs: pending.deadlineAtMs, rowsThrough: rows };
    }
    return { deadlineAtMs: best.deadlineAtMs, costMs: this.#service.costMs(best.rowsThrough) };
  }

  /** Batches run one at a time in the thread, so what its charged total grew by is this batch's charge. */
  batchAnswered(batch: Pending[], now: number, chargedMs: number): void {
    const rows = batch.reduce((sum, pending) => sum + pending.rows, 0);
    this.#service.batchDone(batch[0].dispatchedAtMs, now, rows, chargedMs - this.#chargedAtLastAnswer);
    this.#chargedAtLastAnswer = chargedMs;
  }

  /** A queued or running request ended: answered (in time or late), or failed past its deadline (dropped). */
  settled(pending: Pending, error: OlympianError | null, now: number): void {
    if (pending.deadlineAtMs === undefined) return;
    if (!error) this.#count(now <= pending.deadlineAtMs ? 'onTime' : 'late', now - pending.predictedAtMs);
    else if (error.code === 'DEADLINE_EXCEEDED') this.#count('dropped', undefined);
  }

  #count(outcome: DeadlineOutcome, predictionErrorMs: number | undefined): void {
    this.counts[outcome]++;
    this.#onOutcome?.(outcome, predictionErrorMs);
  }
}
