/**
 * Who is on the device: the slot and account words the main thread writes, under the lock, as sessions join,
 * come back, die and leave. Apart from arbiter.ts so that the class keeps the life cycle and the locking, and
 * this file the arithmetic of the books each step leaves behind.
 */
import { nowMs } from './clock.js';
import {
  accountF64,
  accountI32,
  kAccountF64Size,
  kAccountField,
  kBaseChargedMsField,
  kBaseVirtualTimeField,
  kChargedMsField,
  kDeadlineAtField,
  kDecayedAtField,
  kGenerationField,
  kMaxSessions,
  kMembersField,
  kPriorityField,
  kSlotCountField,
  kSlotF64Size,
  kSlotGenerationField,
  kStateField,
  kThreadIdField,
  kVirtualTimeField,
  kWeightField,
  slotF64,
  slotI32,
  SlotState,
  TraceEvent,
  type ArbiterViews,
} from './layout.js';
import { accountOf } from './accounts.js';
import { settleLocked, traceLocked, updateHeirLocked } from './mechanism.js';
import type { Policy } from './policies/types.js';
import type { SharedPolicyView } from './view.js';
import { Errors } from '../protocol/errors.js';

/**
 * Under the lock: a slot for a new session. Without `account` it opens an account of its own with `weight`
 * and `priority`; with one, it joins that account as another instance of the model. Returns the slot, its
 * account and the generation its grant carries.
 */
export function claimSlotLocked(
  views: ArbiterViews,
  { weight, priority, account }: { weight: number; priority: number; account?: number },
): { slot: number; account: number; generation: number } {
  const { i32, f64 } = views;
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
  const joined = account ?? openAccountLocked(views, weight, priority);
  if (slot === count) Atomics.store(i32, kSlotCountField, count + 1);
  f64.fill(0, slotF64(slot, 0), slotF64(slot, 0) + kSlotF64Size);
  f64[slotF64(slot, kDecayedAtField)] = nowMs();
  Atomics.store(i32, slotI32(slot, kAccountField), joined);
  Atomics.add(i32, accountI32(joined, kMembersField), 1);
  Atomics.store(i32, slotI32(slot, kThreadIdField), 0);
  Atomics.store(i32, slotI32(slot, kStateField), SlotState.IDLE);
  return {
    slot,
    account: joined,
    generation: Atomics.add(i32, slotI32(slot, kSlotGenerationField), 1) + 1,
  };
}

/** Under the lock: a free account, started where a model arriving now belongs (the system virtual time). */
function openAccountLocked({ i32, f64 }: ArbiterViews, weight: number, priority: number): number {
  let account = 0;
  while (account < kMaxSessions && i32[accountI32(account, kMembersField)] > 0) account++;
  if (account === kMaxSessions) throw Errors.invalidConfig('sessions', `exceed ${kMaxSessions} models per device`);
  f64.fill(0, accountF64(account, 0), accountF64(account, 0) + kAccountF64Size);
  f64[accountF64(account, kWeightField)] = weight;
  f64[accountF64(account, kDeadlineAtField)] = Infinity;
  Atomics.store(i32, accountI32(account, kPriorityField), priority);
  return account;
}

/**
 * Under the lock: the slot leaves its account. Its part of the account's virtual time and charge moves into
 * the account's base, so the model's siblings do not come back owed what this instance used; the last member
 * frees the account. The caller then retires the slot as FREE.
 */
export function leaveAccountLocked({ i32, f64 }: ArbiterViews, slot: number): void {
  const account = accountOf(i32, slot);
  f64[accountF64(account, kBaseVirtualTimeField)] += f64[slotF64(slot, kVirtualTimeField)];
  f64[accountF64(account, kBaseChargedMsField)] += f64[slotF64(slot, kChargedMsField)];
  f64[slotF64(slot, kVirtualTimeField)] = 0;
  Atomics.sub(i32, accountI32(account, kMembersField), 1);
}

/**
 * Under the lock: moves `slot` to `next` (IDLE, DEAD or FREE), bumps its generation and settles the books.
 * Returns the slots to wake once the lock is released: the slot itself, those granted, and the new heir.
 */
export function retireSlotLocked(
  views: ArbiterViews,
  policy: Policy,
  view: SharedPolicyView,
  slot: number,
  next: SlotState,
): number[] {
  const { i32 } = views;
  if (Atomics.load(i32, slotI32(slot, kStateField)) === SlotState.HOLDING)
    traceLocked(views, slot, TraceEvent.RELEASE, nowMs());
  Atomics.add(i32, slotI32(slot, kSlotGenerationField), 1);
  Atomics.add(i32, kGenerationField, 1);
  Atomics.store(i32, slotI32(slot, kStateField), next);
  const wakes = [slot, ...settleLocked(views, policy, view)];
  wakes.push(updateHeirLocked(views, policy, view));
  return wakes;
}
