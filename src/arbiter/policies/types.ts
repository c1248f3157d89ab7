import type { PolicyName, SlotState } from '../layout.js';

/**
 * What a policy may read about the sessions: a read-only view, backed by shared memory or by plain arrays.
 * A slot is one session thread; its virtual time, weight and priority are those of its account (the model,
 * which all its instances share).
 */
export interface PolicyView {
  readonly slotCount: number;
  state(slot: number): SlotState;
  account(slot: number): number;
  virtualTime(slot: number): number;
  weight(slot: number): number;
  priority(slot: number): number;
  /** Clock (ms) of the slot's last grant: among equals, the one served longest ago goes first. */
  grantedAt(slot: number): number;
  /** Earliest deadline among the slot's account's pending requests (clock ms); Infinity when none. */
  deadlineAt(slot: number): number;
  /** Predicted device time of the account's work up to and including that request, ms. */
  headCostMs(slot: number): number;
  /** The clock (ms) the deadlines are on, read once per decision. */
  readonly nowMs: number;
  readonly quantumMs: number;
  /** `deadline`: how many quanta of its weighted service an account may fall behind before WFQ serves it. */
  readonly lagQuanta: number;
}

/**
 * A scheduling policy: two pure functions, no Atomics, no I/O (Clockwork's "policy as a replaceable part").
 * The mechanism calls `pick` under the arbiter's lock whenever a token changes hands.
 */
export interface Policy {
  readonly name: PolicyName;
  /** How far a session's virtual time moves for `costMs` of device time charged at `weight`. */
  advance(costMs: number, weight: number): number;
  /**
   * The slot that gets the next token: a WAITING slot, or `incumbent` (the holder giving a token back, -1 when
   * there is none) to keep it. -1 when there is no candidate at all.
   */
  pick(view: PolicyView, incumbent: number): number;
}
