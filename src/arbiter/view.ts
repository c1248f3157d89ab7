import { accountOf, accountPriority, accountVirtualTime, accountWeight } from './accounts.js';
import { nowMs } from './clock.js';
import {
  accountF64,
  kDeadlineAtField,
  kGrantedAtField,
  kHeadCostMsField,
  kLagQuantaField,
  kQuantumUsField,
  kSlotCountField,
  kStateField,
  slotF64,
  slotI32,
  type ArbiterViews,
  type SlotState,
} from './layout.js';
import type { PolicyView } from './policies/types.js';

/**
 * The policies' read-only window onto the shared slots; a slot's virtual time, weight and priority are its
 * account's. Only read under the arbiter's lock.
 */
export class SharedPolicyView implements PolicyView {
  readonly #views: ArbiterViews;

  constructor(views: ArbiterViews) {
    this.#views = views;
  }

  get slotCount(): number {
    return Atomics.load(this.#views.i32, kSlotCountField);
  }
  state(slot: number): SlotState {
    return Atomics.load(this.#views.i32, slotI32(slot, kStateField)) as SlotState;
  }
  account(slot: number): number {
    return accountOf(this.#views.i32, slot);
  }
  virtualTime(slot: number): number {
    return accountVirtualTime(this.#views, this.account(slot));
  }
  weight(slot: number): number {
    return accountWeight(this.#views.f64, this.account(slot));
  }
  priority(slot: number): number {
    return accountPriority(this.#views.i32, this.account(slot));
  }
  grantedAt(slot: number): number {
    return this.#views.f64[slotF64(slot, kGrantedAtField)];
  }
  deadlineAt(slot: number): number {
    return this.#views.f64[accountF64(this.account(slot), kDeadlineAtField)];
  }
  headCostMs(slot: number): number {
    return this.#views.f64[accountF64(this.account(slot), kHeadCostMsField)];
  }
  get nowMs(): number {
    return nowMs();
  }
  get quantumMs(): number {
    return Atomics.load(this.#views.i32, kQuantumUsField) / 1000;
  }
  get lagQuanta(): number {
    return Atomics.load(this.#views.i32, kLagQuantaField);
  }
}
