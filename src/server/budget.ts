/**
 * A model's device-time budget: a token bucket over the device time charged to its account (every instance
 * together). Rules:
 *   1. The bucket holds up to `burstMs` and starts full when the budget is set.
 *   2. It refills at `deviceMsPerSec`; the device time the model was charged since the last look drains it,
 *      and may take it below zero (a debt): charges arrive while work runs, after the work was admitted.
 *   3. A request is admitted while the balance is ≥ 0 and refused (QUOTA_EXCEEDED) while it is in debt, for
 *      as long as the refill takes to pay the debt back (`retryAfterMs`).
 *   4. Refill and charges over one interval are netted before the cap, as if both were spread over it: a
 *      model that uses exactly its rate keeps its balance.
 * The bucket is read on arrival (and by stats), from figures the arbiter keeps anyway: no timer, no thread.
 */
import { Errors, type OlympianError } from '../protocol/errors.js';

export interface Budget {
  /** Device time the model may use per second of wall time, ms (1000: one token's whole time). */
  deviceMsPerSec: number;
  /** Device time it may use at once above that rate, ms. */
  burstMs: number;
}

type MakeError = (field: string, why: string) => OlympianError;

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * A budget as given (`field` is where: `sessions[2].budget`). More than 1000 ms/s per token is more than the
 * device has, so `tokens` bounds the rate where it is known.
 */
export function validateBudget(
  value: unknown,
  field: string,
  tokens = Number.POSITIVE_INFINITY,
  make: MakeError = Errors.invalidConfig,
): Budget {
  if (!isObject(value)) throw make(field, 'must be an object { deviceMsPerSec, burstMs }');
  for (const key of Object.keys(value))
    if (key !== 'deviceMsPerSec' && key !== 'burstMs')
      throw make(`${field}.${key}`, 'is not deviceMsPerSec or burstMs');
  const { deviceMsPerSec, burstMs } = value;
  const maxRate = Math.min(Number.MAX_VALUE, 1000 * tokens);
  if (!(typeof deviceMsPerSec === 'number' && deviceMsPerSec > 0 && deviceMsPerSec <= maxRate)) {
    const bound = Number.isFinite(tokens) ? ` and at most 1000 × tokens (${1000 * tokens})` : ' and finite';
    throw make(`${field}.deviceMsPerSec`, `must be a number > 0${bound}, got ${String(deviceMsPerSec)}`);
  }
  if (!(typeof burstMs === 'number' && Number.isFinite(burstMs) && burstMs >= 0))
    throw make(`${field}.burstMs`, `must be a finite number >= 0, got ${String(burstMs)}`);
  return { deviceMsPerSec, burstMs };
}

export class BudgetBucket {
  readonly budget: Budget;
  #balanceMs: number;
  #atMs: number;
  #chargedMs: number;

  /** `chargedMs` is the account's charged time now: only what it is charged from here on counts. */
  constructor(budget: Budget, nowMs: number, chargedMs: number) {
    this.budget = { ...budget };
    this.#balanceMs = budget.burstMs;
    this.#atMs = nowMs;
    this.#chargedMs = chargedMs;
  }

  /** The balance now, ms (negative: in debt), given the account's charged time now (rules 2 and 4). */
  update(nowMs: number, chargedMs: number): number {
    const refillMs = (Math.max(0, nowMs - this.#atMs) * this.budget.deviceMsPerSec) / 1000;
    const spentMs = Math.max(0, chargedMs - this.#chargedMs);
    this.#balanceMs = Math.min(this.budget.burstMs, this.#balanceMs + refillMs - spentMs);
    // An earlier time or a smaller charge (an injected clock, a stale read) must not make the next look refill twice.
    this.#atMs = Math.max(this.#atMs, nowMs);
    this.#chargedMs = Math.max(this.#chargedMs, chargedMs);
    return this.#balanceMs;
  }

  get balanceMs(): number {
    return this.#balanceMs;
  }

  /**
   * 0 while the balance is ≥ 0 (admitted, rule 3); else ms of refill until it is back to 0. Capped where a
   * vanishing rate would make it Infinity or a number that Retry-After and RetryInfo cannot carry.
   */
  get retryAfterMs(): number {
    if (this.#balanceMs >= 0) return 0;
    return Math.min(Number.MAX_SAFE_INTEGER, (-this.#balanceMs * 1000) / this.budget.deviceMsPerSec);
  }
}
