/**
 * A session's waiting requests, in front of its worker: ordered by request priority (higher first, FIFO
 * within a priority), bounded, and taken in batches of compatible requests (the same input names, dtypes
 * and per-item shapes, so they can be concatenated on the batch axis).
 */
import type { OlympianError } from '../protocol/errors.js';
import type { NamedTensors } from '../protocol/tensors.js';

export interface Pending {
  inputs: NamedTensors;
  /** Items on the batch axis (the first dimension of the inputs). */
  rows: number;
  /** Requests with the same key can share a batch. */
  batchKey: string;
  priority: number;
  enqueuedAtMs: number;
  deadlineAtMs: number | undefined;
  /** Admitted by prediction: dropped from the queue once it is predicted to finish past its deadline. */
  dropIfLate: boolean;
  /** Wall time it was expected to take from arrival to answer, ms, before calibration: the calibration's sample. */
  expectedMs: number;
  /** When admission predicted it would be answered (clock ms): its error goes to the stats. */
  predictedAtMs: number;
  /** Claim word: the worker skips a request the main thread gave up on before it started. */
  claim: Int32Array;
  resolve(outputs: NamedTensors): void;
  reject(error: OlympianError): void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  settled: boolean;
}

export function batchKeyOf(inputs: NamedTensors): string {
  return Object.keys(inputs)
    .sort()
    .map((name) => `${name}:${inputs[name].dtype}:${inputs[name].shape.slice(1).join('x')}`)
    .join('|');
}

export class RequestQueue {
  readonly #items: Pending[] = [];

  get length(): number {
    return this.#items.length;
  }

  get oldestEnqueuedAtMs(): number {
    return this.#items.reduce((oldest, item) => Math.min(oldest, item.enqueuedAtMs), Infinity);
  }

  /** Rows waiting that could join a batch with the head. */
  rowsBatchableWithHead(): number {
    const head = this.#items[0];
    return head
      ? this.#items.filter((item) => item.batchKey === head.batchKey).reduce((sum, item) => sum + item.rows, 0)
      : 0;
  }

  push(item: Pending): void {
    let at = this.#items.length;
    while (at > 0 && this.#items[at - 1].priority < item.priority) at--;
    this.#items.splice(at, 0, item);
  }

  remove(item: Pending): boolean {
    const at = this.#items.indexOf(item);
    if (at >= 0) this.#items.splice(at, 1);
    return at >= 0;
  }

  /**
   * Removes and returns every request whose deadline is before `now`, and every `dropIfLate` one whose
   * predicted answer, `doneAt(rows ahead of it and its own)`, is past its deadline. `rowsAhead`: rows already
   * on their way to the device.
   */
  expire(now: number, doneAt: (rowsThrough: number) => number, rowsAhead: number): Pending[] {
    const expired: Pending[] = [];
    let rows = rowsAhead;
    for (const item of this.#items) {
      const deadline = item.deadlineAtMs;
      const late =
        deadline !== undefined && (deadline < now || (item.dropIfLate && deadline < doneAt(rows + item.rows)));
      if (late) expired.push(item);
      else rows += item.rows;
    }
    for (const item of expired) this.remove(item);
    return expired;
  }

  /** Its earliest deadline (Infinity: none) and the rows up to and including that request, after `rowsAhead`. */
  earliestDeadline(rowsAhead: number): { deadlineAtMs: number; rowsThrough: number } {
    let best = { deadlineAtMs: Infinity, rowsThrough: 0 };
    let rows = rowsAhead;
    for (const item of this.#items) {
      rows += item.rows;
      if (item.deadlineAtMs !== undefined && item.deadlineAtMs < best.deadlineAtMs)
        best = { deadlineAtMs: item.deadlineAtMs, rowsThrough: rows };
    }
    return best;
  }

  get rows(): number {
    return this.#items.reduce((sum, item) => sum + item.rows, 0);
  }

  /** The head and the compatible requests behind it, up to `maxRows` items in all (at least the head). */
  takeBatch(maxRows: number): Pending[] {
    const head = this.#items.shift();
    if (!head) return [];
    const batch = [head];
    let rows = head.rows;
    for (let i = 0; i < this.#items.length && rows < maxRows; ) {
      const item = this.#items[i];
      if (item.batchKey === head.batchKey && rows + item.rows <= maxRows) {
        batch.push(item);
        rows += item.rows;
        this.#items.splice(i, 1);
      } else i++;
    }
    return batch;
  }

  drain(): Pending[] {
    return this.#items.splice(0);
  }
}
