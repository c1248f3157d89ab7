/**
 * deadline — least laxity first, inside a bounded lag behind weighted fair queuing.
 * 1. Charging `costMs` advances the account's virtual time by `costMs / weight`, as under `weighted`.
 * 2. A candidate's laxity is its account's earliest pending deadline − now − the predicted device time of the
 *    work up to and including that request. The token goes to the least laxity.
 * 3. A head that can no longer make its deadline (laxity < 0) gains nothing from going first: its account
 *    competes as one without a deadline.
 * 4. Candidates without a (makeable) deadline come after every one with one, by smallest virtual time.
 * 5. Bounded lag: when the pick by rules 2–4 would leave any candidate more than `lagQuanta` quanta of its own
 *    service behind it ((vt(pick) − vt(c)) × weight(c) > lagQuanta × quantumMs), the token goes by weighted
 *    fair queuing instead (smallest virtual time). A backlogged model thus keeps its weighted share, however
 *    urgent the others are: it lags at most `lagQuanta` quanta plus the quantum being served.
 * 6. Ties: the smaller virtual time, then a waiter before the holder, then the one granted least recently.
 * 7. A model returning from idle is placed as under `weighted` (one quantum of its own service behind the
 *    smallest active virtual time).
 */
import { SlotState } from '../layout.js';
import { byVirtualTime, selectCandidate, type CandidateOrder } from './select.js';
import type { Policy, PolicyView } from './types.js';

/** Laxity (ms) of the slot's head request at `now`; Infinity without one it can still make. */
export function laxityMs(view: PolicyView, slot: number, now: number): number {
  const laxity = view.deadlineAt(slot) - now - view.headCostMs(slot);
  return laxity >= 0 ? laxity : Infinity;
}

function pickDeadline(view: PolicyView, incumbent: number): number {
  const now = view.nowMs;
  const byLaxity: CandidateOrder = (v, a, b) => {
    const la = laxityMs(v, a, now);
    const lb = laxityMs(v, b, now);
    if (la !== lb) return la < lb ? -1 : 1;
    return byVirtualTime(v, a, b);
  };
  const pick = selectCandidate(view, incumbent, byLaxity);
  if (pick < 0) return pick;
  const boundMs = view.lagQuanta * view.quantumMs;
  const pickVt = view.virtualTime(pick);
  for (let slot = 0; slot < view.slotCount; slot++) {
    if (slot !== incumbent && view.state(slot) !== SlotState.WAITING) continue;
    if ((pickVt - view.virtualTime(slot)) * view.weight(slot) > boundMs)
      return selectCandidate(view, incumbent, byVirtualTime);
  }
  return pick;
}

export const deadline: Policy = {
  name: 'deadline',
  advance: (costMs, weight) => costMs / weight,
  pick: pickDeadline,
};
