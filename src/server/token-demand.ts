/**
 * How much token time the device's demand could have used: at any moment, min(K, instances with requests
 * waiting or running) tokens could be busy. Integrated over time on the main thread, where every request
 * starts and ends. Set against the time the sessions held tokens inside units of work (their `busyMs`), it
 * gives the time tokens stood idle while work waited — what work conservation is about.
 */
import { nowMs } from '../arbiter/clock.js';

export class TokenDemand {
  #usable = 0;
  #sinceMs = nowMs();
  #integralMs = 0;

  /** The number of tokens that could be busy from now on. */
  set(usable: number): void {
    const now = nowMs();
    this.#integralMs += this.#usable * (now - this.#sinceMs);
    this.#sinceMs = now;
    this.#usable = usable;
  }

  /** Token-milliseconds of demand so far. */
  get ms(): number {
    return this.#integralMs + this.#usable * (nowMs() - this.#sinceMs);
  }
}
