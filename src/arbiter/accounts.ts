/**
 * Accounts: a model's instances (session threads) charge one account, and the policies compare accounts.
 * Reads of the shared words an account is made of; only the lock's holder may decide on them (the numbers a
 * session adds to its own part while it runs may be a quantum behind, never torn).
 */
import {
  accountF64,
  accountI32,
  kAccountField,
  kBaseChargedMsField,
  kBaseVirtualTimeField,
  kChargedMsField,
  kPriorityField,
  kSlotCountField,
  kStateField,
  kVirtualTimeField,
  kWeightField,
  slotF64,
  slotI32,
  SlotState,
  type ArbiterViews,
} from './layout.js';

export const accountOf = (i32: Int32Array, slot: number): number => Atomics.load(i32, slotI32(slot, kAccountField));

export const accountWeight = (f64: Float64Array, account: number): number => f64[accountF64(account, kWeightField)];

export const accountPriority = (i32: Int32Array, account: number): number =>
  Atomics.load(i32, accountI32(account, kPriorityField));

/** A per-member word summed over the account's live members, plus the account's base (departed members'). */
function sumOverAccount({ i32, f64 }: ArbiterViews, account: number, baseField: number, memberField: number): number {
  let sum = f64[accountF64(account, baseField)];
  const count = Atomics.load(i32, kSlotCountField);
  for (let slot = 0; slot < count; slot++) {
    if (Atomics.load(i32, slotI32(slot, kAccountField)) !== account) continue;
    if (Atomics.load(i32, slotI32(slot, kStateField)) === SlotState.FREE) continue;
    sum += f64[slotF64(slot, memberField)];
  }
  return sum;
}

/** The account's virtual time: its base plus every member's part. */
export const accountVirtualTime = (views: ArbiterViews, account: number): number =>
  sumOverAccount(views, account, kBaseVirtualTimeField, kVirtualTimeField);

/**
 * Device time charged to the account, ms: departed members' plus every member's own. Plain loads of words
 * their owners only add to, so it may be a quantum behind, never ahead.
 */
export const accountChargedMs = (views: ArbiterViews, account: number): number =>
  sumOverAccount(views, account, kBaseChargedMsField, kChargedMsField);
