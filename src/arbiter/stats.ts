import { accountOf, accountPriority, accountVirtualTime, accountWeight } from './accounts.js';
import { nowMs } from './clock.js';
import {
  accountF64,
  kBaseChargedMsField,
  kChargedMsField,
  kDecayedAtField,
  kDecayedMsField,
  kFreeTokensField,
  kGrantsField,
  kHandoffsField,
  kHoldMaxMsField,
  kPolicyField,
  kQuantumUsField,
  kSlotCountField,
  kSpinUsField,
  kStateField,
  kTokensField,
  kWaitingCountField,
  kWaitMaxMsField,
  kWaitsField,
  kWaitTotalMsField,
  kWindowMsField,
  slotF64,
  slotI32,
  SlotState,
  type ArbiterViews,
  type PolicyName,
} from './layout.js';
import { policiesById } from './policies/index.js';

export type SlotStateName = 'idle' | 'waiting' | 'holding' | 'dead';

/** One session thread (an instance of a model). */
export interface SessionTokenStats {
  slot: number;
  /** The model it charges (see `accounts`). */
  account: number;
  name: string;
  state: SlotStateName;
  /** Its model's weight and priority. */
  weight: number;
  priority: number;
  /** Device time this instance charged since registration, ms. */
  chargedMs: number;
  /** chargedMs over every instance's chargedMs. */
  share: number;
  /** The same over an exponentially decayed window of `windowMs`. */
  decayedShare: number;
  grants: number;
  waits: number;
  waitTotalMs: number;
  waitMaxMs: number;
  /** Longest time it held a token before handing it to a waiting session: the real interleaving interval. */
  holdMaxMs: number;
}

/** One model: what the policies share the device among. */
export interface AccountTokenStats {
  account: number;
  /** Its instances' slots. */
  slots: number[];
  weight: number;
  priority: number;
  /** Device time charged by all its instances (departed ones too), ms. */
  chargedMs: number;
  share: number;
  decayedShare: number;
  virtualTime: number;
  /** Tokens its instances hold now (at most min(instances, K)). */
  holding: number;
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
  accounts: AccountTokenStats[];
}

const stateNames: Record<number, SlotStateName> = {
  [SlotState.IDLE]: 'idle',
  [SlotState.WAITING]: 'waiting',
  [SlotState.HOLDING]: 'holding',
  [SlotState.DEAD]: 'dead',
};

const normalise = <T extends { chargedMs: number; share: number; decayedShare: number }>(rows: T[]): T[] => {
  const total = rows.reduce((sum, row) => sum + row.chargedMs, 0);
  const totalDecayed = rows.reduce((sum, row) => sum + row.decayedShare, 0);
  for (const row of rows) {
    row.share = total > 0 ? row.chargedMs / total : 0;
    row.decayedShare = totalDecayed > 0 ? row.decayedShare / totalDecayed : 0;
  }
  return rows;
};

/**
 * Reads every registered slot and account without taking the lock: each figure is a plain load of a value
 * only its owner writes, so a reader may see one session a quantum ahead of another, never a torn number.
 */
export function readTokenStats(
  views: ArbiterViews,
  names: Map<number, string>,
  now: number,
): Pick<ArbiterStats, 'sessions' | 'accounts'> {
  const { i32, f64 } = views;
  const windowMs = f64[kWindowMsField];
  const sessions: SessionTokenStats[] = [];
  const accounts = new Map<number, AccountTokenStats>();
  const count = Atomics.load(i32, kSlotCountField);
  for (let slot = 0; slot < count; slot++) {
    const state = Atomics.load(i32, slotI32(slot, kStateField));
    if (state === SlotState.FREE) continue;
    const at = (field: number) => f64[slotF64(slot, field)];
    const decayed = at(kDecayedMsField) * Math.exp(-Math.max(0, now - at(kDecayedAtField)) / windowMs);
    const account = accountOf(i32, slot);
    const row: SessionTokenStats = {
      slot,
      account,
      name: names.get(slot) ?? `slot${slot}`,
      state: stateNames[state],
      weight: accountWeight(f64, account),
      priority: accountPriority(i32, account),
      chargedMs: at(kChargedMsField),
      share: 0,
      decayedShare: decayed,
      grants: at(kGrantsField),
      waits: at(kWaitsField),
      waitTotalMs: at(kWaitTotalMsField),
      waitMaxMs: at(kWaitMaxMsField),
      holdMaxMs: at(kHoldMaxMsField),
    };
    sessions.push(row);
    let model = accounts.get(account);
    if (!model) {
      model = {
        account,
        slots: [],
        weight: row.weight,
        priority: row.priority,
        chargedMs: f64[accountF64(account, kBaseChargedMsField)],
        share: 0,
        decayedShare: 0,
        virtualTime: accountVirtualTime(views, account),
        holding: 0,
      };
      accounts.set(account, model);
    }
    model.slots.push(slot);
    model.chargedMs += row.chargedMs;
    model.decayedShare += decayed;
    if (state === SlotState.HOLDING) model.holding++;
  }
  return { sessions: normalise(sessions), accounts: normalise([...accounts.values()]) };
}

/** The arbiter's header figures and every slot and account, read as `readTokenStats` reads them: no lock. */
export function readArbiterStats(views: ArbiterViews, names: Map<number, string>): ArbiterStats {
  const { i32 } = views;
  return {
    policy: policiesById[Atomics.load(i32, kPolicyField)].name,
    quantumMs: Atomics.load(i32, kQuantumUsField) / 1000,
    tokens: Atomics.load(i32, kTokensField),
    freeTokens: Atomics.load(i32, kFreeTokensField),
    waiting: Atomics.load(i32, kWaitingCountField),
    handoffs: Atomics.load(i32, kHandoffsField) >>> 0,
    heirSpinUs: Atomics.load(i32, kSpinUsField),
    ...readTokenStats(views, names, nowMs()),
  };
}
