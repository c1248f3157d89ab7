/**
 * Cost plans: what the kernel gate charges for each kernel of an inference at one batch size, worked out
 * once, before the inference, so the hot path is an array read and one integer compare.
 *
 * Rules, in order:
 * 1. No profile: charge measured time (mode `measured`).
 * 2. A profile from another device: on a synchronous backend (wasm, cpu) charge measured time, which is
 *    exact there; on an asynchronous one nothing can be measured, so use the profile anyway. Either way,
 *    with a warning.
 * 3. A profile fitted per position: predict each kernel as a + b·batch (any batch size, profiled or not),
 *    mode `predicted`. The plan is unverified until it has seen a sequence: `verify(observed)` compares the
 *    sequence of a real inference with the profile's (the hash at a profiled batch size, the shape
 *    templates at another) and, when it differs, falls back to rule 4 with a warning.
 * 4. Per-kernel-name averages over the sequence actually seen (mode `name-average`): for a sequence the
 *    profile does not know, or a profile fitted per name. A kernel name the profile never saw leaves only
 *    rule 1.
 */
import { Errors } from '../protocol/errors.js';
import { describeMismatch, isSynchronousBackend, type DeviceFingerprint } from './fingerprint.js';
import { predictMs } from './fit.js';
import type { Profile } from './schema.js';
import { matchTemplates, sameNames, sequenceHash, type KernelLaunch } from './sequence.js';

export type CostMode = 'predicted' | 'name-average' | 'measured';

export interface CostPlan {
  readonly mode: CostMode;
  readonly batch: number;
  readonly quantumMs: number;
  /** Predicted cost of kernel i of one inference; empty in `measured` mode. */
  readonly costsMs: Float64Array;
  /**
   * Ascending kernel indices after which a quantum of `quantumMs` is used up (the gate yields after that
   * kernel), counting from kernel 0 of the inference; absent in `measured` mode.
   */
  readonly boundaries?: Int32Array;
  /** The whole inference, predicted (0 in `measured` mode). */
  readonly totalMs: number;
  /** Why the plan is not the profile's prediction as is, for stats. */
  readonly warning?: string;
  /** Whether the kernel sequence this plan assumes has been checked against one actually launched. */
  readonly verified: boolean;
  /** This plan if `observed` (one inference's launches) is the sequence it assumes, else the fallback. */
  verify(observed: readonly KernelLaunch[]): CostPlan;
}

export interface PlanOptions {
  batch: number;
  /** The device the plan is for (the running one). */
  fingerprint: DeviceFingerprint;
  quantumMs: number;
  /** Kernels finish before they return, so measured time is exact. Default: from the fingerprint's backend. */
  synchronous?: boolean;
  /** One inference's launches at `batch`, when already seen: the plan comes back verified. */
  observed?: readonly KernelLaunch[];
  /** Names the profile in warnings (a path). Default: the profile's model id. */
  source?: string;
}

/** Kernel indices where a quantum ends, the same way the gate counts: add, and at >= quantum yield and restart. */
export function quantumBoundaries(costsMs: Float64Array, quantumMs: number): Int32Array {
  const out: number[] = [];
  let usedMs = 0;
  for (let i = 0; i < costsMs.length; i++) {
    usedMs += costsMs[i];
    if (usedMs >= quantumMs) {
      out.push(i);
      usedMs = 0;
    }
  }
  return Int32Array.from(out);
}

/** The profile's prediction for a whole inference at `batch` (what a `predicted` plan's `totalMs` will be). */
export function predictTotalMs(profile: Profile, batch: number): number {
  if (profile.alignment === 'position') return profile.kernels.reduce((total, k) => total + predictMs(k, batch), 0);
  return Object.values(profile.nameAverages).reduce((total, a) => total + a.perInference * predictMs(a, batch), 0);
}

export function planCosts(profile: Profile | null, options: PlanOptions): CostPlan {
  if (!Number.isInteger(options.batch) || options.batch < 1)
    throw Errors.invalidArgument('batch', `must be an integer >= 1, got ${options.batch}`);
  if (!(options.quantumMs > 0)) throw Errors.invalidArgument('quantumMs', `must be > 0, got ${options.quantumMs}`);
  if (profile === null) return measuredPlan(options, 'no profile for this model: charging measured time');

  const label = `profile ${options.source ?? profile.model.id}`;
  const synchronous = options.synchronous ?? isSynchronousBackend(options.fingerprint.backend);
  const warnings: string[] = [];
  const mismatch = describeMismatch(profile.fingerprint, options.fingerprint);
  if (mismatch !== null) {
    const why = `${label} was made on another device (${mismatch})`;
    if (synchronous) return measuredPlan(options, `${why}: charging measured time`);
    warnings.push(`${why}: using its costs anyway, this backend cannot time kernels`);
  }

  if (profile.alignment === 'name') {
    warnings.push(`${label} is fitted per kernel name (${profile.note ?? 'positions did not line up'})`);
    if (options.observed) return nameAveragePlan(profile, options, options.observed, warnings);
    const pending = measuredPlan(
      options,
      [...warnings, 'charging measured time until an inference shows the sequence'].join('; '),
    );
    return { ...pending, verified: false, verify: (observed) => nameAveragePlan(profile, options, observed, warnings) };
  }

  const costsMs = Float64Array.from(profile.kernels, (k) => predictMs(k, options.batch));
  const templates = profile.kernels.map((k) => k.name + k.shapes);
  const profiled = profile.batches.find((b) => b.batch === options.batch);
  const verify = (observed: readonly KernelLaunch[]): CostPlan => {
    const matches = profiled
      ? sequenceHash(observed) === profiled.sequenceHash
      : matchTemplates(templates, options.batch, observed) === null;
    if (matches) return plan(options, 'predicted', costsMs, warnings, true, verify);
    const at = matchTemplates(templates, options.batch, observed);
    const where = at ? ` at kernel ${at.index} (expected ${at.expected}, saw ${at.seen})` : ' (sequence hash differs)';
    return nameAveragePlan(profile, options, observed, [
      ...warnings,
      `the kernel sequence at batch ${options.batch} differs from ${label}${where}`,
    ]);
  };
  return options.observed ? verify(options.observed) : plan(options, 'predicted', costsMs, warnings, false, verify);
}

function nameAveragePlan(
  profile: Profile,
  options: PlanOptions,
  observed: readonly KernelLaunch[],
  warnings: readonly string[],
): CostPlan {
  const unknown = [...new Set(observed.filter((l) => !(l.name in profile.nameAverages)).map((l) => l.name))];
  if (unknown.length > 0) {
    return measuredPlan(
      options,
      [...warnings, `kernels the profile does not know (${unknown.join(', ')}): charging measured time`].join('; '),
    );
  }
  const costsMs = Float64Array.from(observed, (l) => predictMs(profile.nameAverages[l.name], options.batch));
  const seen = observed.slice();
  const self: CostPlan = plan(
    options,
    'name-average',
    costsMs,
    [...warnings, 'charging per-kernel-name averages'],
    true,
    (next) => (sameNames(seen, next) ? self : nameAveragePlan(profile, options, next, warnings)),
  );
  return self;
}

function plan(
  options: PlanOptions,
  mode: CostMode,
  costsMs: Float64Array,
  warnings: readonly string[],
  verified: boolean,
  verify: CostPlan['verify'],
): CostPlan {
  let totalMs = 0;
  for (const cost of costsMs) totalMs += cost;
  const out: CostPlan = {
    mode,
    batch: options.batch,
    quantumMs: options.quantumMs,
    costsMs,
    boundaries: quantumBoundaries(costsMs, options.quantumMs),
    totalMs,
    verified,
    verify,
  };
  return warnings.length > 0 ? { ...out, warning: warnings.join('; ') } : out;
}

function measuredPlan(options: PlanOptions, warning: string): CostPlan {
  const self: CostPlan = {
    mode: 'measured',
    batch: options.batch,
    quantumMs: options.quantumMs,
    costsMs: new Float64Array(0),
    totalMs: 0,
    warning,
    verified: true,
    verify: () => self,
  };
  return self;
}
