import { kMaxSessions, type PolicyName } from './layout.js';
import { isPolicyName, policyNames } from './policies/index.js';
import { Errors } from '../protocol/errors.js';

export interface ArbiterOptions {
  policy?: PolicyName;
  /** Device time a holder may use before it offers the token at its next kernel boundary, ms. */
  quantumMs?: number;
  /** K: sessions that may hold the device at once (1 for a GPU; the cores given to inference on a CPU). */
  tokens?: number;
  /** Time constant of the decayed share in stats, ms. */
  windowMs?: number;
  /** Let the next waiter spin instead of sleeping; 'auto' spins only while K + 1 < usable cores. */
  heirSpin?: boolean | 'auto';
  /** How long the heir spins before it sleeps, µs (default: two quanta, at most 5 ms). */
  spinUs?: number;
  /**
   * `deadline`: quanta of its own weighted service a backlogged model may fall behind while others' urgent
   * requests go first (an integer, default kDefaultLagQuanta); past it, weighted fair queuing serves it.
   */
  lagQuanta?: number;
}

export type ArbiterConfig = Required<Omit<ArbiterOptions, 'spinUs'>> & { spinUs: number | undefined };

/**
 * 64 quanta (64 ms at the default 1 ms quantum): about one inference of the dearest zoo model the slo bench
 * serves (ResNet-50@96, ~60 ms). A bound of a few quanta is a fraction of one inference, so deadlines could
 * reorder almost nothing: at 0.8× load `deadline` answered 0.93 of requests in time at 4 quanta and 0.98 at
 * 64 (five quick runs each, interleaved; 16, 32, 128 and 256 were no better than 64), and more goodput at
 * 1.5× (BENCHMARKS.md, "Deadlines and SLOs").
 */
export const kDefaultLagQuanta = 64;

const isPositiveFinite = (value: unknown): value is number =>
  typeof value === 'number' && Number.isFinite(value) && value > 0;

/**
 * How a rule's failure is reported: INVALID_CONFIG for a configuration key (the default), INVALID_ARGUMENT
 * for a request field (the admin routes), with the same words either way.
 */
type Fail = (field: string, why: string) => Error;

export function validateWeight(weight: unknown, field: string, fail: Fail = Errors.invalidConfig): void {
  if (!isPositiveFinite(weight)) throw fail(field, `must be a finite number > 0, got ${String(weight)}`);
}

export function validatePriority(priority: unknown, field: string, fail: Fail = Errors.invalidConfig): void {
  if (!Number.isSafeInteger(priority) || Math.abs(priority as number) > 2 ** 30) {
    throw fail(field, `must be an integer, got ${String(priority)}`);
  }
}

export function validatePolicy(
  policy: unknown,
  field: string,
  fail: Fail = Errors.invalidConfig,
): asserts policy is PolicyName {
  if (!isPolicyName(policy as string))
    throw fail(field, `must be one of ${policyNames.join(', ')}, got ${JSON.stringify(policy)}`);
}

/** The shared buffer holds the quantum in whole microseconds (an Int32): from 1 µs to just under 2^31 µs. */
export function validateQuantum(quantumMs: unknown, field: string, fail: Fail = Errors.invalidConfig): void {
  if (!isPositiveFinite(quantumMs))
    throw fail(field, `must be a finite number of milliseconds > 0, got ${String(quantumMs)}`);
  const quantumUs = Math.round(quantumMs * 1000);
  if (quantumUs < 1)
    throw fail(field, `must be at least 0.001 ms (the arbiter counts whole microseconds), got ${quantumMs}`);
  if (quantumUs >= 2 ** 31) throw fail(field, `must be below 2147 s, got ${quantumMs}`);
}

/** The shared buffer holds it in an Int32; beyond a few thousand quanta the bound means nothing anyway. */
export function validateLagQuanta(lagQuanta: unknown, field: string, fail: Fail = Errors.invalidConfig): void {
  if (!Number.isSafeInteger(lagQuanta) || (lagQuanta as number) < 0 || (lagQuanta as number) > 1e6)
    throw fail(field, `must be an integer from 0 to 1000000, got ${String(lagQuanta)}`);
}

export function validateArbiterOptions(options: ArbiterOptions): ArbiterConfig {
  const {
    policy = 'fair',
    quantumMs = 1,
    tokens = 1,
    windowMs = 1000,
    heirSpin = 'auto',
    spinUs,
    lagQuanta = kDefaultLagQuanta,
  } = options;
  validatePolicy(policy, 'policy');
  validateQuantum(quantumMs, 'quantumMs');
  if (!Number.isSafeInteger(tokens) || tokens < 1 || tokens > kMaxSessions) {
    throw Errors.invalidConfig('tokens', `must be an integer from 1 to ${kMaxSessions}, got ${String(tokens)}`);
  }
  if (!isPositiveFinite(windowMs))
    throw Errors.invalidConfig('windowMs', `must be a finite number > 0, got ${String(windowMs)}`);
  if (heirSpin !== 'auto' && typeof heirSpin !== 'boolean') {
    throw Errors.invalidConfig('heirSpin', `must be true, false or 'auto', got ${String(heirSpin)}`);
  }
  if (spinUs !== undefined && !(Number.isFinite(spinUs) && spinUs >= 0 && spinUs < 1e6)) {
    throw Errors.invalidConfig('spinUs', `must be a number from 0 to 1e6, got ${String(spinUs)}`);
  }
  validateLagQuanta(lagQuanta, 'lagQuanta');
  return { policy, quantumMs, tokens, windowMs, heirSpin, spinUs, lagQuanta };
}
