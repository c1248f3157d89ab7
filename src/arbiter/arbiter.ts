/**
 * The main thread's side of a device arbiter: it owns the shared buffer and the sessions' life cycle
 * (register, reclaim a dead holder's token, unregister), changes weights, priorities, policy and quantum at run
 * time, and reads stats without stopping anyone. It is never on the token hot path.
 */
import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import { nowMs } from './clock.js';
import {
  accountF64,
  accountI32,
  kAccountF64Size,
  kAccountField,
  kBaseChargedMsField,
  kBaseVirtualTimeField,
  kChargedMsField,
  kMembersField,
  kBufferBytes,
  kDecayedAtField,
  kFreeTokensField,
  kGenerationField,
  kHandoffsField,
  kLagQuantaField,
  kDeadlineAtField,
  kHeadCostMsField,
  kMainThreadOwner,
  kMaxSessions,
  kPolicyField,
  kPriorityField,
  kQuantumUsField,
  kSlotCountField,
  kSlotF64Size,
  kSlotGenerationField,
  kSpinUsField,
  kStartedAtField,
  kStateField,
  kThreadIdField,
  kTokensField,
  kVirtualClockField,
  kVirtualTimeField,
  kWaitingCountField,
  kWeightField,
  kWindowMsField,
  PolicyId,
  slotF64,
  slotI32,
  SlotState,
  TraceEvent,
  viewsOf,
  type ArbiterViews,
  type PolicyName,
} from './layout.js';
import { accountChargedMs, accountOf, accountPriority, accountVirtualTime } from './accounts.js';
import { lock, settleLocked, stealLockFrom, traceLocked, unlock, updateHeirLocked, wake } from './mechanism.js';
import { policiesById } from './policies/index.js';
import { readTokenStats, type ArbiterStats } from './stats.js';
import { readTraceLocked, setTracingLocked, type TraceRecord } from './trace.js';
import type { TokenGrant } from './token-client.js';
import { validateArbiterOptions, validatePriority, validateWeight, type ArbiterOptions } from './validate.js';
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
  readonly #heirSpin: boolean | 'auto';
  readonly #spinUs: number | undefined;
  #closed = false;

  constructor(options: ArbiterOptions = {}) {
    const config = validateArbiterOptions(options);
    this.buffer = new SharedArrayBuffer(kBufferBytes);
    this.#views = viewsOf(this.buffer);
    this.#view = new SharedPolicyView(this.#views);
    this.#heirSpin = config.heirSpin;
    this.#spinUs = config.spinUs;
    const { i32, f64 } = this.#views;
    i32[kTokensField] = config.tokens;
    i32[kFreeTokensField] = config.tokens;
    i32[kPolicyField] = PolicyId[config.policy];
    i32[kQuantumUsField] = Math.round(config.quantumMs * 1000);
    i32[kLagQuantaField] = config.lagQuanta;
    f64[kWindowMsField] = config.windowMs;
    f64[kStartedAtField] = nowMs();
    this.#applySpin();
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
    const { i32, f64 } = this.#views;
    return this.#locked(() => {
      if (
        account !== undefined &&
        !(
          Number.isSafeInteger(account) &&
          account >= 0 &&
          account < kMaxSessions &&
          i32[accountI32(account, kMembersField)] > 0
        )
      ) {
        throw Errors.notFound('account', String(account));
      }
      const count = Atomics.load(i32, kSlotCountField);
      let slot = 0;
      while (slot < count && Atomics.load(i32, slotI32(slot, kStateField)) !== SlotState.FREE) slot++;
      if (slot === kMaxSessions) throw Errors.invalidConfig('sessions', `exceed ${kMaxSessions} per device`);
      const joined = account ?? this.#openAccountLocked(weight, priority);
      if (slot === count) Atomics.store(i32, kSlotCountField, count + 1);
      f64.fill(0, slotF64(slot, 0), slotF64(slot, 0) + kSlotF64Size);
      f64[slotF64(slot, kDecayedAtField)] = nowMs();
      Atomics.store(i32, slotI32(slot, kAccountField), joined);
      Atomics.add(i32, accountI32(joined, kMembersField), 1);
      Atomics.store(i32, slotI32(slot, kThreadIdField), 0);
      Atomics.store(i32, slotI32(slot, kStateField), SlotState.IDLE);
      this.#names.set(slot, name);
      return {
        buffer: this.buffer,
        slot,
        account: joined,
        generation: Atomics.add(i32, slotI32(slot, kSlotGenerationField), 1) + 1,
      };
    });
  }

  /** Under the lock: a free account, started where a model arriving now belongs (the system virtual time). */
  #openAccountLocked(weight: number, priority: number): number {
    const { i32, f64 } = this.#views;
    let account = 0;
    while (account < kMaxSessions && i32[accountI32(account, kMembersField)] > 0) account++;
    if (account === kMaxSessions) throw Errors.invalidConfig('sessions', `exceed ${kMaxSessions} models per device`);
    f64.fill(0, accountF64(account, 0), accountF64(account, 0) + kAccountF64Size);
    f64[accountF64(account, kWeightField)] = weight;
    f64[accountF64(account, kDeadlineAtField)] = Infinity;
    Atomics.store(i32, accountI32(account, kPriorityField), priority);
    return account;
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

  /**
   * Frees the slot. Its part of the account's virtual time and charge moves into the account's base, so the
   * model's siblings do not come back owed what this instance used; the last member frees the account.
   */
  unregister(slot: number): void {
    stealLockFrom(this.#views.i32, slot + 1);
    const { i32, f64 } = this.#views;
    this.#locked(() => {
      if (Atomics.load(i32, slotI32(slot, kStateField)) === SlotState.FREE) return;
      const account = accountOf(i32, slot);
      f64[accountF64(account, kBaseVirtualTimeField)] += f64[slotF64(slot, kVirtualTimeField)];
      f64[accountF64(account, kBaseChargedMsField)] += f64[slotF64(slot, kChargedMsField)];
      f64[slotF64(slot, kVirtualTimeField)] = 0;
      Atomics.sub(i32, accountI32(account, kMembersField), 1);
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

  /**
   * Moving a session to another class is joining another queue: it starts owed one quantum against the
   * least-served active session of its new class (like a session returning from idle). Keeping its virtual
   * time would carry credit or debt earned against sessions it no longer competes with: one promoted after
   * starving in a lower class would take the device until its new classmates caught up (the soak measured
   * 50% errors in the intervals after such changes).
   */
  setPriority(slot: number, priority: number): void {
    validatePriority(priority, `sessions.${this.#names.get(slot) ?? slot}.priority`);
    const { i32, f64 } = this.#views;
    this.#locked(() => {
      const account = accountOf(i32, slot);
      if (Atomics.exchange(i32, accountI32(account, kPriorityField), priority) === priority) return;
      // Other policies ignore classes: one queue, virtual times stay comparable (setPolicy resets them).
      if (Atomics.load(i32, kPolicyField) !== PolicyId.priority) return;
      const advance = this.#policyNow().advance(this.quantumMs, f64[accountF64(account, kWeightField)]);
      const target = this.#activeMinExceptAccountLocked(account, priority) - advance;
      f64[accountF64(account, kBaseVirtualTimeField)] += target - accountVirtualTime(this.#views, account);
      this.#pendingWakes.push(updateHeirLocked(this.#views, this.#policyNow(), this.#view));
    });
  }

  /** Virtual times of different policies do not compare, so every session restarts from zero. */
  setPolicy(policy: PolicyName): void {
    validateArbiterOptions({ policy });
    const { i32, f64 } = this.#views;
    this.#locked(() => {
      Atomics.store(i32, kPolicyField, PolicyId[policy]);
      const count = Atomics.load(i32, kSlotCountField);
      for (let slot = 0; slot < count; slot++) f64[slotF64(slot, kVirtualTimeField)] = 0;
      for (let account = 0; account < kMaxSessions; account++) f64[accountF64(account, kBaseVirtualTimeField)] = 0;
      f64[kVirtualClockField] = 0;
    });
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

  setQuantum(quantumMs: number): void {
    validateArbiterOptions({ quantumMs });
    Atomics.store(this.#views.i32, kQuantumUsField, Math.round(quantumMs * 1000));
    this.#applySpin();
  }

  /** Device time charged to the slot's model (every instance, departed ones too), ms: a few loads, no lock. */
  chargedMs(slot: number): number {
    return accountChargedMs(this.#views, accountOf(this.#views.i32, slot));
  }

  stats(): ArbiterStats {
    const { i32 } = this.#views;
    return {
      policy: this.policy,
      quantumMs: this.quantumMs,
      tokens: this.tokens,
      freeTokens: Atomics.load(i32, kFreeTokensField),
      waiting: Atomics.load(i32, kWaitingCountField),
      handoffs: Atomics.load(i32, kHandoffsField) >>> 0,
      heirSpinUs: Atomics.load(i32, kSpinUsField),
      ...readTokenStats(this.#views, this.#names, nowMs()),
    };
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

  /** Under the lock: the smallest virtual time among the active accounts of `priority` other than `account`. */
  #activeMinExceptAccountLocked(account: number, priority: number): number {
    const { i32 } = this.#views;
    let min = Infinity;
    const count = Atomics.load(i32, kSlotCountField);
    for (let slot = 0; slot < count; slot++) {
      const other = accountOf(i32, slot);
      const state = Atomics.load(i32, slotI32(slot, kStateField));
      if (other === account || accountPriority(i32, other) !== priority) continue;
      if (state === SlotState.WAITING || state === SlotState.HOLDING)
        min = Math.min(min, accountVirtualTime(this.#views, other));
    }
    return Number.isFinite(min) ? min : this.#views.f64[kVirtualClockField];
  }

  /** Under the lock: moves `slot` to `next` (IDLE, DEAD or FREE), bumps its generation and settles the books. */
  #retireLocked(slot: number, next: SlotState): void {
    const { i32 } = this.#views;
    if (Atomics.load(i32, slotI32(slot, kStateField)) === SlotState.HOLDING)
      traceLocked(this.#views, slot, TraceEvent.RELEASE, nowMs());
    Atomics.add(i32, slotI32(slot, kSlotGenerationField), 1);
    Atomics.add(i32, kGenerationField, 1);
    Atomics.store(i32, slotI32(slot, kStateField), next);
    this.#pendingWakes.push(slot, ...settleLocked(this.#views, this.#policyNow(), this.#view));
    this.#pendingWakes.push(updateHeirLocked(this.#views, this.#policyNow(), this.#view));
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

  #applySpin(): void {
    // 'auto' spins only with a core to spare beyond the K holders and the main thread, which must keep
    // dispatching requests: on a 2-core machine a spinning heir starves it and the device goes idle.
    const enabled = this.#heirSpin === 'auto' ? this.tokens + 1 < availableParallelism() : this.#heirSpin;
    // Default: long enough to cover a holder's quantum, since the handoff comes at its next boundary.
    const spinUs = enabled ? (this.#spinUs ?? Math.min(5000, Math.max(50, 2 * this.quantumMs * 1000))) : 0;
    Atomics.store(this.#views.i32, kSpinUsField, Math.round(spinUs));
  }

  #assertOpen(): void {
    if (this.#closed) throw Errors.unavailable('the arbiter is closed');
  }
}
