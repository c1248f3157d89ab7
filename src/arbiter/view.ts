import {
  kGrantedAtField,
  kPriorityField,
  kSlotCountField,
  kStateField,
  kVirtualTimeField,
  kWeightField,
  slotF64,
  slotI32,
  type ArbiterViews,
  type SlotState,
} from './layout.js';
import type { PolicyView } from './policies/types.js';

/** The policies' read-only window onto the shared slots. Only read under the arbiter's lock. */
export class SharedPolicyView implements PolicyView {
  readonly #i32: Int32Array;
  readonly #f64: Float64Array;

  constructor(views: ArbiterViews) {
    this.#i32 = views.i32;
    this.#f64 = views.f64;
  }

  get slotCount(): number {
    return Atomics.load(this.#i32, kSlotCountField);
  }
  state(slot: number): SlotState {
    return Atomics.load(this.#i32, slotI32(slot, kStateField)) as SlotState;
  }
  virtualTime(slot: number): number {
    return this.#f64[slotF64(slot, kVirtualTimeField)];
  }
  weight(slot: number): number {
    return this.#f64[slotF64(slot, kWeightField)];
  }
  priority(slot: number): number {
    return Atomics.load(this.#i32, slotI32(slot, kPriorityField));
  }
  grantedAt(slot: number): number {
    return this.#f64[slotF64(slot, kGrantedAtField)];
  }
}
