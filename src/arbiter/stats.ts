import {
  kChargedMsField,
  kDecayedAtField,
  kDecayedMsField,
  kGrantsField,
  kHoldMaxMsField,
  kPriorityField,
  kSlotCountField,
  kStateField,
  kVirtualTimeField,
  kWaitMaxMsField,
  kWaitsField,
  kWaitTotalMsField,
  kWeightField,
  kWindowMsField,
  slotF64,
  slotI32,
  SlotState,
  type ArbiterViews,
  type PolicyName,
} from './layout.js';

export type SlotStateName = 'idle' | 'waiting' | 'holding' | 'dead';

export interface SessionTokenStats {
  slot: number;
  name: string;
  state: SlotStateName;
  weight: number;
  priority: number;
  /** Device time charged since registration, ms. */
  chargedMs: number;
  /** chargedMs over all sessions' chargedMs. */
  share: number;
  /** The same over an exponentially decayed window of `windowMs`. */
  decayedShare: number;
  grants: number;
  waits: number;
  waitTotalMs: number;
  waitMaxMs: number;
  /** Longest time a session held a token before handing it to a waiting one: the real interleaving interval. */
  holdMaxMs: number;
  virtualTime: number;
}

export interface ArbiterStats {
  policy: PolicyName;
  quantumMs: number;
  tokens: number;
  freeTokens: number;
  waiting: number;
  handoffs: number;
  heirSpinUs: number;
  sessions: SessionTokenStats[];
}

const stateNames: Record<number, SlotStateName> = {
  [SlotState.IDLE]: 'idle',
  [SlotState.WAITING]: 'waiting',
  [SlotState.HOLDING]: 'holding',
  [SlotState.DEAD]: 'dead',
};

/**
 * Reads every registered slot without taking the lock: each figure is a plain load of a value only its owner
 * writes, so a reader may see one session a quantum ahead of another, never a torn number.
 */
export function readSessionStats(views: ArbiterViews, names: Map<number, string>, now: number): SessionTokenStats[] {
  const { i32, f64 } = views;
  const windowMs = f64[kWindowMsField];
  const rows: SessionTokenStats[] = [];
  const count = Atomics.load(i32, kSlotCountField);
  for (let slot = 0; slot < count; slot++) {
    const state = Atomics.load(i32, slotI32(slot, kStateField));
    if (state === SlotState.FREE) continue;
    const at = (field: number) => f64[slotF64(slot, field)];
    const decayed = at(kDecayedMsField) * Math.exp(-Math.max(0, now - at(kDecayedAtField)) / windowMs);
    rows.push({
      slot,
      name: names.get(slot) ?? `slot${slot}`,
      state: stateNames[state],
      weight: at(kWeightField),
      priority: Atomics.load(i32, slotI32(slot, kPriorityField)),
      chargedMs: at(kChargedMsField),
      share: 0,
      decayedShare: decayed,
      grants: at(kGrantsField),
      waits: at(kWaitsField),
      waitTotalMs: at(kWaitTotalMsField),
      waitMaxMs: at(kWaitMaxMsField),
      holdMaxMs: at(kHoldMaxMsField),
      virtualTime: at(kVirtualTimeField),
    });
  }
  const total = rows.reduce((sum, row) => sum + row.chargedMs, 0);
  const totalDecayed = rows.reduce((sum, row) => sum + row.decayedShare, 0);
  for (const row of rows) {
    row.share = total > 0 ? row.chargedMs / total : 0;
    row.decayedShare = totalDecayed > 0 ? row.decayedShare / totalDecayed : 0;
  }
  return rows;
}
