/**
 * A session's deadline bookkeeping on the main thread: what admission expects and promises on arrival,
 * which queued requests can no longer be in time, what the model's most urgent request is (for the
 * `deadline` policy), and how each request with a deadline ended. It is also the session's entry in the
 * device book: the device time it still has to do.
 */
import type { DeviceBook, WorkSource } from './device-book.js';
import type { Pending, RequestQueue } from './request-queue.js';
import { noDeadlineCounts, ServiceTime, type AdmissionMode, type DeadlineOutcome } from './service-time.js';
import type { OlympianError } from '../protocol/errors.js';
import type { RunCostLine } from '../protocol/session-messages.js';

type OutcomeListener = (outcome: DeadlineOutcome, predictionErrorMs: number | undefined) => void;

const rowsOf = (batches: Pending[][]) =>
  batches.reduce((sum, batch) => sum + batch.reduce((rows, pending) => rows + pending.rows, 0), 0);

export interface DeadlineBookOptions {
  maxBatch: number;
  /** The session's batches on their way to or in its thread (the first is running) and its queue. */
  inFlight: Pending[][];
  queue: RequestQueue;
  /**
   * The thread's kernels' costs so far, ms, added kernel by kernel as they run (not the charge, which on wasm
   * follows the thread's CPU time from a clock that moves in 4 ms ticks, and so is not exact per batch).
   */
  kernelMs: () => number;
  /** The server's book of every session's work (none: the session is taken to have the device alone). */
  device?: DeviceBook;
  /** The model's weight now (it shares the device by it). */
  weight?: () => number;
  onOutcome?: OutcomeListener;
}

export class DeadlineBook implements WorkSource {
  readonly counts = noDeadlineCounts();
  readonly #service: ServiceTime;
  readonly #options: DeadlineBookOptions;
  /** The kernels' costs at the last answer: what they grew by since is the running batch's progress. */
  #kernelMsAtLastAnswer = 0;

  constructor(options: DeadlineBookOptions) {
    this.#options = options;
    this.#service = new ServiceTime(options.maxBatch);
  }

  /** The session is warm: its profile's line (if it charges one), and the kernels' costs to count from. */
  warm(line: RunCostLine | null): void {
    this.#service.line = line;
    this.#kernelMsAtLastAnswer = this.#options.kernelMs();
  }

  get weight(): number {
    return this.#options.weight?.() ?? 1;
  }

  remainingWorkMs(): number {
    return this.#workThroughMs(rowsOf(this.#options.inFlight) + this.#options.queue.rows);
  }

  /**
   * Device time of the first `rows` rows it holds, less what the running batch has been charged; the rows
   * behind the running batch cost at least their own.
   */
  #workThroughMs(rows: number): number {
    const running = this.#options.inFlight[0];
    const runningRows = running ? rowsOf([running]) : 0;
    const doneMs = running ? Math.max(0, this.#options.kernelMs() - this.#kernelMsAtLastAnswer) : 0;
    return Math.max(this.#service.costMs(rows - runningRows), this.#service.costMs(rows) - doneMs);
  }

  /**
   * Expected wall time until the first `rows` rows it holds are answered, sharing the device, ms, as a
   * function of `rows`: the other sessions' work is read at most once per expectation, and only if asked.
   */
  #expectation(): (rows: number) => number {
    const device = this.#options.device;
    let share: ((ownMs: number) => number) | null = null;
    return (rows) => {
      const workMs = this.#workThroughMs(rows);
      if (!device) return workMs;
      share ??= device.sharing(this);
      return share(workMs);
    };
  }

  /**
   * On arrival: when the request would be answered behind what the session and the device hold, and whether
   * it is refused (a refusal is counted as shed). Returns how late it would be when refused, else null.
   */
  admit(
    now: number,
    rows: number,
    deadlineAtMs: number | undefined,
    admission: AdmissionMode,
  ): { expectedMs: number; predictedAtMs: number; dropIfLate: boolean; refusedLateMs: number | null } {
    this.#service.forget(now);
    const expectedMs = this.#expectation()(rowsOf(this.#options.inFlight) + this.#options.queue.rows + rows);
    const predictedAtMs = now + this.#service.promisedMs(expectedMs);
    const dropIfLate = admission === 'predicted' && deadlineAtMs !== undefined;
    const refused = dropIfLate && predictedAtMs > deadlineAtMs;
    if (refused) {
      this.#service.refused();
      this.#count('shed', undefined);
    } else if (dropIfLate) this.#service.letIn();
    return { expectedMs, predictedAtMs, dropIfLate, refusedLateMs: refused ? predictedAtMs - deadlineAtMs : null };
  }

  /**
   * Queued requests whose deadline passed, or (admitted by prediction) that can no longer be in time: likely
   * late by the calibrated median, without the margin admission adds (a request admitted on the slow side
   * is not dropped on it).
   */
  expire(now: number): Pending[] {
    this.#service.forget(now);
    const expected = this.#expectation();
    const doneAt = (rows: number) => now + this.#service.likelyMs(expected(rows));
    return this.#options.queue.expire(now, doneAt, rowsOf(this.#options.inFlight));
  }

  /** The most urgent request (deadline on the clock, Infinity: none) and the device time up to and including it. */
  head(): { deadlineAtMs: number; costMs: number } {
    let best = this.#options.queue.earliestDeadline(rowsOf(this.#options.inFlight));
    let rows = 0;
    for (const pending of this.#options.inFlight.flat()) {
      rows += pending.rows;
      if (pending.deadlineAtMs !== undefined && pending.deadlineAtMs < best.deadlineAtMs)
        best = { deadlineAtMs: pending.deadlineAtMs, rowsThrough: rows };
    }
    return { deadlineAtMs: best.deadlineAtMs, costMs: this.#service.costMs(best.rowsThrough) };
  }

  /** Batches run one at a time in the thread, so what its kernels' costs grew by is this batch's cost. */
  batchAnswered(batch: Pending[]): void {
    const kernelMs = this.#options.kernelMs();
    this.#service.batchDone(rowsOf([batch]), kernelMs - this.#kernelMsAtLastAnswer);
    this.#kernelMsAtLastAnswer = kernelMs;
  }

  /**
   * A queued or running request ended: answered (in time or late), or failed past its deadline (dropped).
   * Every answer calibrates admission, with a deadline or without: the wait does not depend on it.
   */
  settled(pending: Pending, error: OlympianError | null, now: number): void {
    if (!error) this.#service.answered(now - pending.enqueuedAtMs, pending.expectedMs, now);
    if (pending.deadlineAtMs === undefined) return;
    if (!error) {
      this.#count(now <= pending.deadlineAtMs ? 'onTime' : 'late', now - pending.predictedAtMs);
    } else if (error.code === 'DEADLINE_EXCEEDED') this.#count('dropped', undefined);
  }

  #count(outcome: DeadlineOutcome, predictionErrorMs: number | undefined): void {
    this.counts[outcome]++;
    this.#options.onOutcome?.(outcome, predictionErrorMs);
  }
}
