/**
 * Profile-predicted accounting for a session (Olympian's idea: charge a kernel what the offline profile says
 * it costs, not what timing the device would say). One cost plan per batch size, made the first time that
 * size runs and checked against the kernel sequence that inference really launched; on a mismatch the plan
 * falls back (per-kernel-name averages, then measured time) and says why.
 */
import { existsSync, statSync } from 'node:fs';
import { fingerprintFromBackend, type DeviceFingerprint } from './fingerprint.js';
import { planCosts, predictTotalMs, type CostMode, type CostPlan } from './plan.js';
import { readProfile, type Profile } from './schema.js';
import { SequenceRecorder } from './sequence.js';
import { buildProfile } from './profile.js';
import { recordModel } from './record.js';
import type { LoadedModel } from '../models/index.js';
import { locateProfile, profileModelId } from './store.js';
import type { BackendInfo, ModelSource, RunCostLine } from '../protocol/session-messages.js';
import type { KernelParams } from '../device/kernel-hook.js';

export class ProfiledCosts {
  readonly #profile: Profile | null;
  readonly #fingerprint: DeviceFingerprint;
  readonly #source: string;
  readonly #plans = new Map<number, CostPlan>();
  #plan: CostPlan | null = null;
  #costs: Float64Array = new Float64Array(0);
  #index = 0;
  #recorder: SequenceRecorder | null = null;
  #quantumMs: number;

  constructor(profile: Profile | null, fingerprint: DeviceFingerprint, source: string, quantumMs: number) {
    this.#profile = profile;
    this.#fingerprint = fingerprint;
    this.#source = source;
    this.#quantumMs = quantumMs;
  }

  get mode(): CostMode {
    return this.#plan?.mode ?? (this.#profile ? 'predicted' : 'measured');
  }

  get warning(): string | undefined {
    return (
      this.#plan?.warning ??
      (this.#profile ? undefined : `no profile found for ${this.#source}: charging measured time`)
    );
  }

  /** The profile's whole-run cost line (from its predictions at batch 1 and 2), or null when not charging one. */
  runCostLine(): RunCostLine | null {
    if (!this.#profile || this.mode === 'measured') return null;
    const one = predictTotalMs(this.#profile, 1);
    const perItemMs = Math.max(0, predictTotalMs(this.#profile, 2) - one);
    return { fixedMs: Math.max(0, one - perItemMs), perItemMs };
  }

  /** Before an inference of `batch` items: picks (or makes) the plan, and records the sequence if unchecked. */
  begin(batch: number): void {
    let plan = this.#plans.get(batch);
    if (!plan) {
      plan = planCosts(this.#profile, {
        batch,
        fingerprint: this.#fingerprint,
        quantumMs: this.#quantumMs,
        source: this.#source,
      });
      this.#plans.set(batch, plan);
    }
    this.#plan = plan;
    this.#costs = plan.mode === 'measured' ? new Float64Array(0) : plan.costsMs;
    this.#index = 0;
    this.#recorder = plan.verified ? null : new SequenceRecorder();
  }

  /** Hot path, every kernel: its predicted cost, or -1 where the plan has none (charge measured time). */
  next(name: string, params: KernelParams): number {
    const index = this.#index++;
    if (this.#recorder) this.#recorder.record(name, 0, params);
    return index < this.#costs.length ? this.#costs[index] : -1;
  }

  /** After the inference: an unchecked plan is checked against what was launched, and replaced if need be. */
  end(): void {
    if (!this.#recorder || !this.#plan) return;
    const checked = this.#plan.verify(this.#recorder.launches);
    this.#plans.set(this.#plan.batch, checked);
    this.#plan = checked;
    this.#recorder = null;
  }
}

/**
 * Finds this model's profile for this device: `profile` is a profile file, or a profiles directory laid
 * out as profiles/<fingerprint>/<model>.json. A profile made on another device is still returned (the plan
 * then falls back, with a warning).
 */
export function loadProfiledCosts(
  profile: string,
  model: ModelSource,
  backend: BackendInfo,
  quantumMs: number,
): ProfiledCosts {
  const fingerprint = fingerprintFromBackend(backend);
  const isModule = typeof model === 'object' && 'module' in model;
  const source = isModule ? model.module : profileModelId(model as string | { zoo: string; inputSize?: number });
  let found: Profile | null = null;
  if (existsSync(profile) && statSync(profile).isFile()) found = readProfile(profile);
  else if (!isModule && existsSync(profile)) found = locateProfile(profile, source, fingerprint)?.profile ?? null;
  return new ProfiledCosts(found, fingerprint, source, quantumMs);
}

/**
 * `autoProfile`: profiles the model here, at session start, at batch 1 and 2 (a few runs each) instead of
 * reading a profile from disk — for small models, where that takes a moment. On webgpu the costs are GPU
 * time from timestamp queries; an adapter without them fails the start (BACKEND_UNAVAILABLE), not zeros.
 */
export async function autoProfiledCosts(
  model: LoadedModel,
  source: ModelSource,
  backend: BackendInfo,
  quantumMs: number,
): Promise<ProfiledCosts> {
  const fingerprint = fingerprintFromBackend(backend);
  const id =
    typeof source === 'object' && 'module' in source
      ? source.module
      : profileModelId(source as string | { zoo: string; inputSize?: number });
  const recordings = await recordModel(model, { batches: [1, 2], runs: 3, warmupRuns: 1 });
  const profile = buildProfile(recordings, { fingerprint, model: { id, source: id }, warmupRuns: 1 });
  return new ProfiledCosts(profile, fingerprint, `${id} (profiled at start)`, quantumMs);
}
