/**
 * The main thread's side of a device arbiter: it owns the shared buffer and the sessions' life cycle
 * (register, reclaim a dead holder's token, unregister), changes weights, priorities, policy and quantum at run
 * time, and reads stats without stopping anyone. It is never on the token hot path.
 */
import type { Worker } from 'node:worker_threads';
import {
  accountF64,
  kBufferBytes,
  kDeadlineAtField,
  kHeadCostMsField,
  kLagQuantaField,
  kMainThreadOwner,
  kPolicyField,
  kQuantumUsField,
  kSlotCountField,
  kSlotGenerationField,
  kStateField,
  kTokensField,
  kWeightField,
  slotI32,
  SlotState,
  viewsOf,
  type ArbiterViews,
  type PolicyName,
} from './layout.js';
import { accountChargedMs, accountOf, accountWeight } from './accounts.js';
import { lock, stealLockFrom, unlock, wake } from './mechanism.js';
import { claimSlotLocked, leaveAccountLocked, retireSlotLocked } from './membership.js';
import { policiesById } from './policies/index.js';
import { moveToClassLocked, switchPolicyLocked } from './reorder.js';
import { storeHeirSpin, writeSettings, type SpinConfig } from './settings.js';
import { readArbiterStats, type ArbiterStats } from './stats.js';
import { readTraceLocked, setTracingLocked, type TraceRecord } from './trace.js';
import type { TokenGrant } from './token-client.js';
import {
  validateArbiterOptions,
  validateLagQuanta,
  validatePriority,
  validateWeight,
  type ArbiterOptions,
} from './validate.js';
import { SharedPolicyView } from './view.js';
import { Errors } from '../protocol/errors.js';

export type { ArbiterOptions } from './validate.js';

export interface SlotOptions {
  name: string;
  /** A new account's weight and priority; an instance joining an `account` takes that account's. */
  weight?: number;
  priority?: number;
  /** Join this account (another instance of the same model: `grant.account` of a sibling). */
  account?: number;
}

export class DeviceArbiter {
  readonly buffer: SharedArrayBuffer;
  readonly #views: ArbiterViews;
  readonly #view: SharedPolicyView;
  readonly #names = new Map<number, string>();
  /** Slots to wake once the lock is released (granted, retired, or the new heir). */
  readonly #pendingWakes: number[] = [];
  readonly #spin: SpinConfig;
  #closed = false;

  constructor(options: ArbiterOptions = {}) {
    const config = validateArbiterOptions(options);
    this.buffer = new SharedArrayBuffer(kBufferBytes);
    this.#views = viewsOf(this.buffer);
    this.#view = new SharedPolicyView(this.#views);
    this.#spin = { heirSpin: config.heirSpin, spinUs: config.spinUs };
    writeSettings(this.#views, config);
  }

  get tokens(): number {
    return Atomics.load(this.#views.i32, kTokensField);
  }

  get policy(): PolicyName {
    return policiesById[Atomics.load(this.#views.i32, kPolicyField)].name;
  }

  get quantumMs(): number {
    return Atomics.load(this.#views.i32, kQuantumUsField) / 1000;
  }

  /**
   * Hands out a slot; its `TokenGrant` goes to the session's thread. Without `account`, the slot opens an
   * account of its own (a model with one instance); with one, it is another instance of that model.
   */
  register({ name, weight = 1, priority = 0, account }: SlotOptions): TokenGrant {
    this.#assertOpen();
    validateWeight(weight, `sessions.${name}.weight`);
    validatePriority(priority, `sessions.${name}.priority`);
    return this.#locked(() => {
      const claimed = claimSlotLocked(this.#views, { weight, priority, account });
      this.#names.set(claimed.slot, name);
      return { buffer: this.buffer, ...claimed };
    });
  }

  /** A restarted session takes its old slot back (its stats carry on) under a new generation. */
  revive(slot: number): TokenGrant {
    this.#assertOpen();
    const { i32 } = this.#views;
    return this.#locked(() => {
      const state = Atomics.load(i32, slotI32(slot, kStateField));
      if (state === SlotState.FREE) throw Errors.notFound('slot', String(slot));
      this.#retireLocked(slot, SlotState.IDLE);
      return {
        buffer: this.buffer,
        slot,
        account: accountOf(i32, slot),
        generation: Atomics.load(i32, slotI32(slot, kSlotGenerationField)),
      };
    });
  }

  /**
   * The session's thread died (exit, error, terminate): whatever it held or waited for is taken back and the
   * next waiter gets the token. Its generation moves on, so a late release from it changes nothing.
   */
  reclaim(slot: number): void {
    // A thread can die inside its own critical section; free the lock first, then rebuild the books.
    stealLockFrom(this.#views.i32, slot + 1);
    this.#locked(() => this.#retireLocked(slot, SlotState.DEAD));
  }

  /** Frees the slot; what it used stays with its model's account (see leaveAccountLocked). */
  unregister(slot: number): void {
    stealLockFrom(this.#views.i32, slot + 1);
    this.#locked(() => {
      if (Atomics.load(this.#views.i32, slotI32(slot, kStateField)) === SlotState.FREE) return;
      leaveAccountLocked(this.#views, slot);
      this.#retireLocked(slot, SlotState.FREE);
    });
    this.#names.delete(slot);
  }

  /** Reclaims the slot when `worker` exits or fails, so a dying holder never strands the device. */
  watch(worker: Worker, slot: number): void {
    const generation = Atomics.load(this.#views.i32, slotI32(slot, kSlotGenerationField));
    const onGone = () => {
      if (this.#closed) return;
      if (Atomics.load(this.#views.i32, slotI32(slot, kSlotGenerationField)) === generation) this.reclaim(slot);
    };
    worker.once('exit', onGone);
    worker.once('error', onGone);
  }

  /** Sets the weight of the slot's model (every instance: they share one account). */
  setWeight(slot: number, weight: number): void {
    validateWeight(weight, `sessions.${this.#names.get(slot) ?? slot}.weight`);
    this.#locked(() => {
      this.#views.f64[accountF64(accountOf(this.#views.i32, slot), kWeightField)] = weight;
    });
  }

  /** The weight of the slot's model now: one load, no lock. */
  weightOf(slot: number): number {
    return accountWeight(this.#views.f64, accountOf(this.#views.i32, slot));
  }

  /**
   * Sets the priority class of the slot's model (every instance). Under `priority` the model rejoins as a
   * session returning from idle does (see moveToClassLocked).
   */
  setPriority(slot: number, priority: number): void {
    validatePriority(priority, `sessions.${this.#names.get(slot) ?? slot}.priority`);
    this.#locked(() => {
      const account = accountOf(this.#views.i32, slot);
      this.#pendingWakes.push(moveToClassLocked(this.#views, this.#policyNow(), this.#view, account, priority));
    });
  }

  /** Virtual times of different policies do not compare, so every session restarts from zero. */
  setPolicy(policy: PolicyName): void {
    validateArbiterOptions({ policy });
    this.#locked(() => switchPolicyLocked(this.#views, policy));
  }

  /**
   * The main thread, owner of a model's request queues, publishes its most urgent request for `deadline`
   * (Infinity: none) and the predicted device time up to and including it. No lock: see layout.ts.
   */
  publishHead(account: number, deadlineAtMs: number, headCostMs: number): void {
    const { f64 } = this.#views;
    f64[accountF64(account, kHeadCostMsField)] = headCostMs;
    f64[accountF64(account, kDeadlineAtField)] = deadlineAtMs;
  }

  get lagQuanta(): number {
    return Atomics.load(this.#views.i32, kLagQuantaField);
  }

  /** `deadline`'s lag bound, in quanta; the policy reads it at its next pick. */
  setLagQuanta(lagQuanta: number): void {
    validateLagQuanta(lagQuanta, 'lagQuanta');
    Atomics.store(this.#views.i32, kLagQuantaField, lagQuanta);
  }

  setQuantum(quantumMs: number): void {
    validateArbiterOptions({ quantumMs });
    Atomics.store(this.#views.i32, kQuantumUsField, Math.round(quantumMs * 1000));
    storeHeirSpin(this.#views.i32, this.#spin);
  }

  /** Device time charged to the slot's model (every instance, departed ones too), ms: a few loads, no lock. */
  chargedMs(slot: number): number {
    return accountChargedMs(this.#views, accountOf(this.#views.i32, slot));
  }

  stats(): ArbiterStats {
    return readArbiterStats(this.#views, this.#names);
  }

  /**
   * Starts (or stops) recording every grant and release into the shared ring (the last kTraceCapacity
   * events are kept). Off by default: then each grant or release pays one plain load.
   */
  setTracing(on: boolean): void {
    this.#locked(() => setTracingLocked(this.#views, on));
  }

  /** The trace so far, oldest first, times on the `nowMs()` clock. */
  readTrace(): { events: TraceRecord[]; dropped: number } {
    return this.#locked(() => readTraceLocked(this.#views, this.#names));
  }

  /** Wakes every sleeper with its slot DEAD, so session threads stop waiting; the buffer is then unused. */
  close(): void {
    if (this.#closed) return;
    const { i32 } = this.#views;
    this.#locked(() => {
      const count = Atomics.load(i32, kSlotCountField);
      for (let slot = 0; slot < count; slot++) {
        if (Atomics.load(i32, slotI32(slot, kStateField)) !== SlotState.FREE) this.#retireLocked(slot, SlotState.DEAD);
      }
    });
    this.#closed = true;
  }

  /** Under the lock: moves `slot` to `next` (IDLE, DEAD or FREE) and queues the wakes that follow. */
  #retireLocked(slot: number, next: SlotState): void {
    this.#pendingWakes.push(...retireSlotLocked(this.#views, this.#policyNow(), this.#view, slot, next));
  }

  /** Runs `body` under the lock as the main thread, then wakes whoever `body` granted or retired. */
  #locked<T>(body: () => T): T {
    const { i32 } = this.#views;
    lock(i32, kMainThreadOwner);
    try {
      return body();
    } finally {
      unlock(i32);
      for (const slot of this.#pendingWakes.splice(0)) wake(i32, slot);
    }
  }

  #policyNow() {
    return policiesById[Atomics.load(this.#views.i32, kPolicyField)];
  }

  #assertOpen(): void {
    if (this.#closed) throw Errors.unavailable('the arbiter is closed');
  }
}
