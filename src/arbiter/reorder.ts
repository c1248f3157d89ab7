/**
 * Run-time changes to the order of service that the main thread makes under the lock: a model moved to
 * another priority class, and a switch of policy. Apart from arbiter.ts because each rewrites virtual times,
 * and the rule for how is the part worth reading on its own.
 */
import {
  accountF64,
  accountI32,
  kBaseVirtualTimeField,
  kMaxSessions,
  kPolicyField,
  kPriorityField,
  kQuantumUsField,
  kSlotCountField,
  kStateField,
  kVirtualClockField,
  kVirtualTimeField,
  kWeightField,
  PolicyId,
  slotF64,
  slotI32,
  SlotState,
  type ArbiterViews,
  type PolicyName,
} from './layout.js';
import { accountOf, accountPriority, accountVirtualTime } from './accounts.js';
import { updateHeirLocked } from './mechanism.js';
import type { Policy } from './policies/types.js';
import type { SharedPolicyView } from './view.js';

/**
 * Under the lock: `account` moves to class `priority`. Moving a session to another class is joining another
 * queue: it starts owed one quantum against the least-served active session of its new class (like a session
 * returning from idle). Keeping its virtual time would carry credit or debt earned against sessions it no
 * longer competes with: one promoted after starving in a lower class would take the device until its new
 * classmates caught up (the soak measured 50% errors in the intervals after such changes). Returns the new
 * heir to wake once the lock is released, or -1.
 */
export function moveToClassLocked(
  views: ArbiterViews,
  policy: Policy,
  view: SharedPolicyView,
  account: number,
  priority: number,
): number {
  const { i32, f64 } = views;
  if (Atomics.exchange(i32, accountI32(account, kPriorityField), priority) === priority) return -1;
  // Other policies ignore classes: one queue, virtual times stay comparable (switchPolicyLocked resets them).
  if (Atomics.load(i32, kPolicyField) !== PolicyId.priority) return -1;
  const quantumMs = Atomics.load(i32, kQuantumUsField) / 1000;
  const advance = policy.advance(quantumMs, f64[accountF64(account, kWeightField)]);
  const target = activeMinExceptAccountLocked(views, account, priority) - advance;
  f64[accountF64(account, kBaseVirtualTimeField)] += target - accountVirtualTime(views, account);
  return updateHeirLocked(views, policy, view);
}

/** Under the lock: the smallest virtual time among the active accounts of `priority` other than `account`. */
function activeMinExceptAccountLocked(views: ArbiterViews, account: number, priority: number): number {
  const { i32 } = views;
  let min = Infinity;
  const count = Atomics.load(i32, kSlotCountField);
  for (let slot = 0; slot < count; slot++) {
    const other = accountOf(i32, slot);
    const state = Atomics.load(i32, slotI32(slot, kStateField));
    if (other === account || accountPriority(i32, other) !== priority) continue;
    if (state === SlotState.WAITING || state === SlotState.HOLDING)
      min = Math.min(min, accountVirtualTime(views, other));
  }
  return Number.isFinite(min) ? min : views.f64[kVirtualClockField];
}

/** Under the lock: virtual times of different policies do not compare, so every session restarts from zero. */
export function switchPolicyLocked({ i32, f64 }: ArbiterViews, policy: PolicyName): void {
  Atomics.store(i32, kPolicyField, PolicyId[policy]);
  const count = Atomics.load(i32, kSlotCountField);
  for (let slot = 0; slot < count; slot++) f64[slotF64(slot, kVirtualTimeField)] = 0;
  for (let account = 0; account < kMaxSessions; account++) f64[accountF64(account, kBaseVirtualTimeField)] = 0;
  f64[kVirtualClockField] = 0;
}
