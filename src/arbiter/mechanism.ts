/**
 * Every Atomics operation of the arbiter lives here: the lock, handing a token over, sleeping until one comes,
 * and repairing the books after a thread died. Sessions (token-client.ts) and the main thread (arbiter.ts,
 * membership.ts, reorder.ts) call these; policies never do.
 *
 * Invariants, true whenever the lock is free:
 * - freeTokens + (slots in HOLDING) = K;
 * - waitingCount = slots in WAITING;
 * - freeTokens > 0 implies waitingCount = 0 (a freed token goes straight to a waiter).
 */
import { nowMs } from './clock.js';
import { threadAlive } from './os-thread.js';
import {
  kDecayedAtField,
  kDecayedMsField,
  kFreeTokensField,
  kGrantedAtField,
  kGrantsField,
  kHandoffsField,
  kHeirField,
  kLockField,
  kLockWaitersField,
  kMaxSessions,
  kSlotCountField,
  kSpinUsField,
  kStateField,
  kThreadIdField,
  kTokensField,
  kTraceCapacity,
  kTraceCountField,
  kTraceOnField,
  kTraceWrap,
  kWaitingCountField,
  kVirtualClockField,
  kWindowMsField,
  slotF64,
  slotI32,
  SlotState,
  TraceEvent,
  type ArbiterViews,
} from './layout.js';
import type { Policy } from './policies/types.js';
import { accountOf, accountPriority, accountVirtualTime } from './accounts.js';
import type { SharedPolicyView } from './view.js';

/** Lock attempts spent spinning before sleeping; the critical sections are a few hundred ns. */
const kLockSpins = 200;
/** Backstop for every sleep (ms): no wake-up is expected to be lost, but a sleeper re-checks this often. */
export const kWaitSliceMs = 50;

export function lock(i32: Int32Array, owner: number): void {
  for (let attempt = 0; ; attempt++) {
    if (Atomics.compareExchange(i32, kLockField, 0, owner) === 0) return;
    if (attempt < kLockSpins) continue;
    // Announce the sleeper *before* re-reading the word: an unlock that lands in between either sees the
    // announcement and notifies, or changed the word so that wait() returns at once.
    Atomics.add(i32, kLockWaitersField, 1);
    const holder = Atomics.load(i32, kLockField);
    const timedOut = holder !== 0 && Atomics.wait(i32, kLockField, holder, kWaitSliceMs) === 'timed-out';
    Atomics.sub(i32, kLockWaitersField, 1);
    if (timedOut) freeLockOfDeadHolder(i32, holder);
  }
}

/**
 * A critical section lasts microseconds, so a whole wait slice without an unlock means the holder is stalled
 * or dead: a session thread terminated inside its critical section (several threads stopped at once, a
 * killed session) leaves the word set. The main thread frees it in `reclaim`, but only once the thread's exit
 * event runs, and that can never run while the main thread itself waits here: it would wait forever. So every
 * waiter frees a lock whose holder's thread no longer exists; the holder's books are repaired by that reclaim.
 */
function freeLockOfDeadHolder(i32: Int32Array, holder: number): void {
  if (holder < 1 || holder > kMaxSessions) return; // the main thread, which is alive: it is the one waiting, or will unlock
  const tid = Atomics.load(i32, slotI32(holder - 1, kThreadIdField));
  if (tid > 0 && !threadAlive(tid)) stealLockFrom(i32, holder);
}

export function unlock(i32: Int32Array): void {
  Atomics.store(i32, kLockField, 0);
  if (Atomics.load(i32, kLockWaitersField) > 0) Atomics.notify(i32, kLockField, 1);
}

/** Frees the lock if `owner` (a dead thread) holds it; the caller then repairs the books with `settleLocked`. */
export function stealLockFrom(i32: Int32Array, owner: number): void {
  if (Atomics.compareExchange(i32, kLockField, owner, 0) === owner) Atomics.notify(i32, kLockField, 1);
}

/** Under the lock: `slot` now holds a token. The caller wakes it after unlocking. */
export function grantLocked(views: ArbiterViews, slot: number, now: number): void {
  advanceVirtualClock(views.f64, accountVirtualTime(views, accountOf(views.i32, slot)));
  views.f64[slotF64(slot, kGrantedAtField)] = now;
  views.f64[slotF64(slot, kGrantsField)] += 1;
  traceLocked(views, slot, TraceEvent.GRANT, now);
  // The state word is what the grantee sleeps on: the plain stores above happen-before this store, so the
  // grantee sees its grant time once it sees HOLDING.
  Atomics.store(views.i32, slotI32(slot, kStateField), SlotState.HOLDING);
}

/**
 * Under the lock: appends an event to the trace ring when tracing is on. The lock makes this the only
 * writer; the count is stored last (atomically) so a reader under the lock sees whole events.
 */
export function traceLocked(views: ArbiterViews, slot: number, event: TraceEvent, now: number): void {
  if (views.i32[kTraceOnField] === 0) return;
  const count = views.i32[kTraceCountField];
  const at = count % kTraceCapacity;
  views.traceAt[at] = now;
  views.traceEvent[at] = slot * 2 + event;
  const next = count + 1;
  Atomics.store(views.i32, kTraceCountField, next >= kTraceWrap ? kTraceCapacity + (next % kTraceCapacity) : next);
}

/** Wakes a sleeper on its state word (a grant, a reclaim, or "you are the heir now: spin"). */
export function wake(i32: Int32Array, slot: number): void {
  if (slot >= 0) Atomics.notify(i32, slotI32(slot, kStateField), 1);
}

/**
 * Under the lock, after a token was freed (its former holder already left HOLDING): the policy's pick among
 * the waiters gets it, or it becomes free. Returns the grantee, or -1.
 */
export function passFreedTokenLocked(views: ArbiterViews, policy: Policy, view: SharedPolicyView, now: number): number {
  const next = policy.pick(view, -1);
  if (next < 0) {
    Atomics.add(views.i32, kFreeTokensField, 1);
    return -1;
  }
  Atomics.sub(views.i32, kWaitingCountField, 1);
  grantLocked(views, next, now);
  Atomics.add(views.i32, kHandoffsField, 1);
  return next;
}

/**
 * Under the lock: records which waiter the policy would pick next. Only that heir spins (when spinning is on);
 * a spinning crowd would steal the cores the holders need. Returns the heir when it changed, else -1, so the
 * caller can wake it to start spinning.
 */
export function updateHeirLocked(views: ArbiterViews, policy: Policy, view: SharedPolicyView): number {
  const heir = Atomics.load(views.i32, kWaitingCountField) > 0 ? policy.pick(view, -1) : -1;
  const previous = Atomics.exchange(views.i32, kHeirField, heir);
  return heir !== previous && Atomics.load(views.i32, kSpinUsField) > 0 ? heir : -1;
}

/**
 * Under the lock: where a model returning from idle may start — the smallest virtual time among the active
 * accounts (with a slot waiting or holding) other than `except`'s own slot, or, when none is active, the
 * system virtual time. Without the latter, models that each ran alone (warm-ups, bursts) would come back at
 * unrelated virtual times and the one that ran last would be held back until the others caught up. An
 * instance whose model is active through a sibling finds that sibling's account here, so it is placed
 * nowhere new. `priorityClass`: only accounts of that class count (under `priority`, virtual times compare
 * only inside a class).
 */
export function activeMinVirtualTimeLocked(
  views: ArbiterViews,
  except: number,
  priorityClass: number | null = null,
): number {
  let min = Infinity;
  const count = Atomics.load(views.i32, kSlotCountField);
  let active = false;
  for (let slot = 0; slot < count; slot++) {
    if (slot === except) continue;
    const account = accountOf(views.i32, slot);
    if (priorityClass !== null && accountPriority(views.i32, account) !== priorityClass) continue;
    const state = Atomics.load(views.i32, slotI32(slot, kStateField));
    if (state === SlotState.WAITING || state === SlotState.HOLDING) {
      min = Math.min(min, accountVirtualTime(views, account));
      active = true;
    }
  }
  return active ? min : views.f64[kVirtualClockField];
}

/**
 * Under the lock: recomputes the counters from the slot states and hands any free token to waiters. This is
 * how the main thread repairs the books after a thread died, possibly halfway through its own critical
 * section. Returns the slots granted, to be woken after unlocking.
 */
export function settleLocked(views: ArbiterViews, policy: Policy, view: SharedPolicyView): number[] {
  const { i32 } = views;
  let holding = 0;
  let waiting = 0;
  const count = Atomics.load(i32, kSlotCountField);
  for (let slot = 0; slot < count; slot++) {
    const state = Atomics.load(i32, slotI32(slot, kStateField));
    if (state === SlotState.HOLDING) holding++;
    else if (state === SlotState.WAITING) waiting++;
  }
  const tokens = Atomics.load(i32, kTokensField);
  Atomics.store(i32, kWaitingCountField, waiting);
  Atomics.store(i32, kFreeTokensField, Math.max(0, tokens - holding));
  const granted: number[] = [];
  const now = nowMs();
  while (Atomics.load(i32, kFreeTokensField) > 0 && Atomics.load(i32, kWaitingCountField) > 0) {
    Atomics.sub(i32, kFreeTokensField, 1);
    const next = passFreedTokenLocked(views, policy, view, now);
    if (next >= 0) granted.push(next);
  }
  return granted;
}

/**
 * Sleeps until `slot` leaves WAITING and returns its new state (HOLDING, or DEAD/FREE when reclaimed). The heir
 * spins for up to kSpinUsField µs first, re-armed each time it is woken as heir; everyone else sleeps.
 */
export function waitWhileWaiting(i32: Int32Array, slot: number): SlotState {
  const stateIndex = slotI32(slot, kStateField);
  let spinUntil = -1;
  for (;;) {
    const state = Atomics.load(i32, stateIndex) as SlotState;
    if (state !== SlotState.WAITING) return state;
    const spinUs = Atomics.load(i32, kSpinUsField);
    if (spinUs > 0 && Atomics.load(i32, kHeirField) === slot) {
      if (spinUntil < 0) spinUntil = nowMs() + spinUs / 1000;
      if (nowMs() < spinUntil) continue;
    }
    if (Atomics.wait(i32, stateIndex, SlotState.WAITING, kWaitSliceMs) === 'ok') spinUntil = -1;
  }
}

/**
 * The system virtual time follows the start tags of the quanta served (SFQ's V(t)): set at every grant and
 * every quantum a holder starts. A plain max: the holder may call this outside the lock, and a lost race
 * only leaves the clock a quantum behind.
 */
export function advanceVirtualClock(f64: Float64Array, startTag: number): void {
  if (startTag > f64[kVirtualClockField]) f64[kVirtualClockField] = startTag;
}

/** Adds `costMs` to the slot's exponentially decayed charge (time constant kWindowMsField), as of `now`. */
export function decayInto(views: ArbiterViews, slot: number, costMs: number, now: number): void {
  const { f64 } = views;
  const windowMs = f64[kWindowMsField];
  const at = slotF64(slot, kDecayedAtField);
  const sum = slotF64(slot, kDecayedMsField);
  f64[sum] = f64[sum] * Math.exp(-(now - f64[at]) / windowMs) + costMs;
  f64[at] = now;
}
