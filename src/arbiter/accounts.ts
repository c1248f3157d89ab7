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

/** The account's virtual time: its base plus every member's part. */
export function accountVirtualTime({ i32, f64 }: ArbiterViews, account: number): number {
  let vt = f64[accountF64(account, kBaseVirtualTimeField)];
  const count = Atomics.load(i32, kSlotCountField);
  for (let slot = 0; slot < count; slot++) {
    if (Atomics.load(i32, slotI32(slot, kAccountField)) !== account) continue;
    if (Atomics.load(i32, slotI32(slot, kStateField)) === SlotState.FREE) continue;
    vt += f64[slotF64(slot, kVirtualTimeField)];
  }
  return vt;
}

/**
 * Device time charged to the account, ms: departed members' plus every member's own. Plain loads of words
 * their owners only add to, so it may be a quantum behind, never ahead.
 */
export function accountChargedMs({ i32, f64 }: ArbiterViews, account: number): number {
  let chargedMs = f64[accountF64(account, kBaseChargedMsField)];
  const count = Atomics.load(i32, kSlotCountField);
  for (let slot = 0; slot < count; slot++) {
    if (Atomics.load(i32, slotI32(slot, kAccountField)) !== account) continue;
    if (Atomics.load(i32, slotI32(slot, kStateField)) === SlotState.FREE) continue;
    chargedMs += f64[slotF64(slot, kChargedMsField)];
  }
  return chargedMs;
}
