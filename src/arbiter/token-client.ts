/**
 * A session's handle on the device arbiter, used from the session's own thread. It takes a token before the
 * session launches kernels, offers it back at every quantum boundary (`yield`) and returns it when the work is
 * done (`release`). All blocking happens here, in `Atomics.wait`, never in a message hop.
 */
import { nowMs } from './clock.js';
import { currentThreadId } from './os-thread.js';
import {
  kChargedMsField,
  kFreeTokensField,
  kHandoffsField,
  kHoldMaxMsField,
  kPolicyField,
  kQuantumUsField,
  kSlotGenerationField,
  kStateField,
  kThreadIdField,
  kVirtualTimeField,
  kWaitingCountField,
  kWaitMaxMsField,
  kWaitsField,
  kWaitTotalMsField,
  slotF64,
  slotI32,
  PolicyId,
  SlotState,
  TraceEvent,
  viewsOf,
  type ArbiterViews,
} from './layout.js';
import {
  activeMinVirtualTimeLocked,
  advanceVirtualClock,
  decayInto,
  grantLocked,
  lock,
  passFreedTokenLocked,
  traceLocked,
  unlock,
  updateHeirLocked,
  waitWhileWaiting,
  wake,
} from './mechanism.js';
import { policiesById } from './policies/index.js';
import { accountOf, accountPriority, accountVirtualTime, accountWeight } from './accounts.js';
import { SharedPolicyView } from './view.js';
import { Errors } from '../protocol/errors.js';

/** What a session thread needs to reach its slot; plain data, sent in `workerData`. */
export interface TokenGrant {
  buffer: SharedArrayBuffer;
  slot: number;
  /** The model's account: another instance of the model registers with `{ account }`. */
  account: number;
  generation: number;
}

/** How soon (quanta) a session that gave the token up with work on the way must ask again to keep its place. */
const kBackloggedReturnQuanta = 10;

export class TokenClient {
  readonly slot: number;
  /** The model this session charges; fixed for the slot's life. */
  readonly #account: number;
  readonly #views: ArbiterViews;
  readonly #view: SharedPolicyView;
  readonly #generation: number;
  readonly #owner: number;
  #holding = false;
  #heldSince = 0;
  #waitingSince = 0;
  /**
   * When it last gave the token up with more of its own work coming (`offer` to a waiter, or `release` with
   * `stillBacklogged`): if it asks again soon after, it was never idle, and keeps the place it had (`request`).
   */
  #offeredBackloggedAt = -Infinity;

  constructor({ buffer, slot, generation }: TokenGrant) {
    this.slot = slot;
    this.#views = viewsOf(buffer);
    this.#view = new SharedPolicyView(this.#views);
    this.#generation = generation;
    this.#owner = slot + 1;
    this.#account = accountOf(this.#views.i32, slot);
    // Lets a lock waiter see that this thread died holding the lock (mechanism.ts `lock`).
    Atomics.store(this.#views.i32, slotI32(slot, kThreadIdField), currentThreadId());
  }

  get holding(): boolean {
    return this.#holding;
  }

  /** Current quantum, ms; re-read at every grant so a run-time change takes effect at the next boundary. */
  get quantumMs(): number {
    return Atomics.load(this.#views.i32, kQuantumUsField) / 1000;
  }

  /** Blocks until this session holds a token. Throws UNAVAILABLE if the slot was reclaimed meanwhile. */
  acquire(): void {
    if (!this.request()) this.awaitGrant();
  }

  /**
   * The non-blocking half of `acquire`: takes a free token (true) or joins the waiters (false; then call
   * `awaitGrant`). Split so an asynchronous session can wait with `Atomics.waitAsync` instead.
   */
  request(): boolean {
    if (this.#holding) return true;
    const { i32, f64 } = this.#views;
    lock(i32, this.#owner);
    if (!this.#currentLocked()) {
      unlock(i32);
      throw Errors.unavailable(`device token slot ${this.slot} was reclaimed`);
    }
    // Coming back from idle: start no earlier than the active minimum (or, with nobody active, the system
    // virtual time) less one quantum of this session's own service. The quantum is the lag a session that
    // released between back-to-back requests is owed (without it, a model with short inferences would lose
    // its turn at every release); idle time banks nothing more (CFS places waking tasks the same way).
    // A session that gave the token up with its next unit on the way and asks again within a few quanta was
    // never idle: it keeps all it lagged. (Set back every time, a model kept behind by `deadline`'s lag bound
    // lost what it lagged past one quantum at each unit's end, and got 0.42–0.45 of the device instead of half
    // against an urgent one.) The window bounds what a session whose work then went away could bank.
    const now = nowMs();
    const neverIdle = now - this.#offeredBackloggedAt <= kBackloggedReturnQuanta * this.quantumMs;
    this.#offeredBackloggedAt = -Infinity;
    const priorityClass =
      Atomics.load(i32, kPolicyField) === PolicyId.priority ? accountPriority(i32, this.#account) : null;
    const floor =
      activeMinVirtualTimeLocked(this.#views, this.slot, priorityClass) -
      this.#policy().advance(this.quantumMs, accountWeight(f64, this.#account));
    // The account is raised through this instance's own part, which only this thread and the lock write.
    const behind = floor - accountVirtualTime(this.#views, this.#account);
    if (behind > 0 && !neverIdle) f64[slotF64(this.slot, kVirtualTimeField)] += behind;
    if (Atomics.load(i32, kFreeTokensField) > 0) {
      Atomics.sub(i32, kFreeTokensField, 1);
      grantLocked(this.#views, this.slot, now);
      unlock(i32);
      this.#onGranted(now);
      return true;
    }
    Atomics.store(i32, slotI32(this.slot, kStateField), SlotState.WAITING);
    Atomics.add(i32, kWaitingCountField, 1);
    const heir = updateHeirLocked(this.#views, this.#policy(), this.#view);
    unlock(i32);
    wake(i32, heir);
    this.#waitingSince = now;
    return false;
  }

  /** Blocks until the token `request` asked for arrives. */
  awaitGrant(): void {
    if (!this.#holding) this.#sleepUntilGranted(this.#waitingSince);
  }

  /**
   * Charges `costMs` and, if another session waits and the policy prefers it, hands the token over and blocks
   * until it comes back. Returns whether the token changed hands. Alone on the device this is a few loads.
   */
  yield(costMs: number): boolean {
    this.renew(costMs);
    // Only a holder can hand a token on: a yield without one would grant a token that does not exist.
    if (!this.#holding) return false;
    const { i32 } = this.#views;
    if (Atomics.load(i32, kWaitingCountField) === 0) return false;
    lock(i32, this.#owner);
    if (!this.#currentLocked()) {
      unlock(i32);
      this.#holding = false;
      return false;
    }
    const policy = this.#policy();
    const next = policy.pick(this.#view, this.slot);
    if (next === this.slot || next < 0) {
      unlock(i32);
      return false;
    }
    // Become a waiter before the grantee can run, so that its next yield may hand the token straight back.
    Atomics.store(i32, slotI32(this.slot, kStateField), SlotState.WAITING);
    const now = nowMs();
    traceLocked(this.#views, this.slot, TraceEvent.RELEASE, now);
    grantLocked(this.#views, next, now);
    Atomics.add(i32, kHandoffsField, 1);
    const heir = updateHeirLocked(this.#views, policy, this.#view);
    unlock(i32);
    wake(i32, next);
    wake(i32, heir);
    this.#onReleased(now, true);
    this.#sleepUntilGranted(now);
    return true;
  }

  /**
   * Charges `costMs` and starts another quantum without offering the token: a yield that cannot hand over.
   * (webgpu strict mode with nobody waiting: no reason to wait for the GPU before going on.)
   */
  renew(costMs: number): void {
    this.#charge(costMs);
    // The holder starts another quantum: its virtual time is that quantum's start tag.
    if (this.#holding) advanceVirtualClock(this.#views.f64, accountVirtualTime(this.#views, this.#account));
  }

  /** Whether any session waits for a token now (a yield could hand this one over). */
  get othersWaiting(): boolean {
    return Atomics.load(this.#views.i32, kWaitingCountField) > 0;
  }

  /**
   * Charges `costMs` and gives the token back; the policy's pick among the waiters gets it. `stillBacklogged`:
   * more of its work is on the way, though not here yet (see `request`).
   */
  release(costMs: number, stillBacklogged = false): void {
    if (!this.#holding) return;
    this.#charge(costMs);
    this.#releaseCharged(false);
    if (stillBacklogged) this.#offeredBackloggedAt = nowMs();
  }

  /**
   * Charges `costMs` and gives the token up only if the policy prefers a waiter to this session, without
   * waiting for it to come back: the end of a unit of work with more of this session's work on its way (its
   * next request asks for a token like any other). Returns whether this session still holds the token.
   */
  offer(costMs: number): boolean {
    this.renew(costMs);
    if (!this.#holding) return false;
    if (Atomics.load(this.#views.i32, kWaitingCountField) === 0) return true;
    if (!this.#releaseCharged(true)) return true;
    this.#offeredBackloggedAt = nowMs();
    return false;
  }

  /** Under no lock yet: gives the (charged) token back; with `unlessPicked`, only to a waiter the policy prefers. */
  #releaseCharged(unlessPicked: boolean): boolean {
    const { i32 } = this.#views;
    lock(i32, this.#owner);
    if (!this.#currentLocked()) {
      unlock(i32);
      this.#holding = false;
      return true;
    }
    if (unlessPicked) {
      const pick = this.#policy().pick(this.#view, this.slot);
      if (pick === this.slot || pick < 0) {
        unlock(i32);
        return false;
      }
    }
    Atomics.store(i32, slotI32(this.slot, kStateField), SlotState.IDLE);
    const policy = this.#policy();
    const now = nowMs();
    traceLocked(this.#views, this.slot, TraceEvent.RELEASE, now);
    const next = passFreedTokenLocked(this.#views, policy, this.#view, now);
    const heir = updateHeirLocked(this.#views, policy, this.#view);
    unlock(i32);
    wake(i32, next);
    wake(i32, heir);
    this.#onReleased(now, next >= 0);
    return true;
  }

  #policy() {
    return policiesById[Atomics.load(this.#views.i32, kPolicyField)];
  }

  /** Under the lock: false when the main thread reclaimed or freed this slot since the handle was made. */
  #currentLocked(): boolean {
    return Atomics.load(this.#views.i32, slotI32(this.slot, kSlotGenerationField)) === this.#generation;
  }

  #charge(costMs: number): void {
    if (!(costMs > 0)) return;
    const { f64 } = this.#views;
    const weight = accountWeight(f64, this.#account);
    f64[slotF64(this.slot, kChargedMsField)] += costMs;
    f64[slotF64(this.slot, kVirtualTimeField)] += this.#policy().advance(costMs, weight);
    decayInto(this.#views, this.slot, costMs, nowMs());
  }

  #sleepUntilGranted(since: number): void {
    const state = waitWhileWaiting(this.#views.i32, this.slot);
    const now = nowMs();
    if (state !== SlotState.HOLDING) {
      this.#holding = false;
      throw Errors.unavailable(`device token slot ${this.slot} was reclaimed while waiting`);
    }
    const { f64 } = this.#views;
    const waitedMs = now - since;
    f64[slotF64(this.slot, kWaitsField)] += 1;
    f64[slotF64(this.slot, kWaitTotalMsField)] += waitedMs;
    if (waitedMs > f64[slotF64(this.slot, kWaitMaxMsField)]) f64[slotF64(this.slot, kWaitMaxMsField)] = waitedMs;
    this.#onGranted(now);
  }

  #onGranted(now: number): void {
    this.#holding = true;
    this.#heldSince = now;
  }

  /**
   * `handedOver`: the token went straight to a waiting session. Only then is the hold an interleaving
   * interval (someone waited through it); a session alone on the device may keep it as long as it likes.
   */
  #onReleased(now: number, handedOver: boolean): void {
    this.#holding = false;
    if (!handedOver) return;
    const heldMs = now - this.#heldSince;
    const max = slotF64(this.slot, kHoldMaxMsField);
    if (heldMs > this.#views.f64[max]) this.#views.f64[max] = heldMs;
  }
}
