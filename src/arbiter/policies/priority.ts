/**
 * priority — strict priority classes, weighted fair inside a class.
 * 1. The token goes to a candidate of the highest priority class present; a lower class runs only while no
 *    higher one is waiting or holding.
 * 2. Inside a class, the smallest weighted virtual time (`costMs / weight`) first.
 * 3. A holder gives way at its next quantum boundary when a higher class waits (the gate asks at every
 *    boundary; kernels are never preempted).
 * 4. Ties: a waiter before the holder, then the one granted least recently.
 * 5. Virtual times compare only inside a class: a session returning from idle is placed against its own
 *    class, and one moved to another class (setPriority) is re-placed there (reorder.ts), so waiting behind
 *    a higher class banks no credit.
 */
import { byVirtualTime, selectCandidate, type CandidateOrder } from './select.js';
import type { Policy } from './types.js';

const byPriorityThenVirtualTime: CandidateOrder = (view, a, b) =>
  view.priority(b) - view.priority(a) || byVirtualTime(view, a, b);

export const priority: Policy = {
  name: 'priority',
  advance: (costMs, weight) => costMs / weight,
  pick: (view, incumbent) => selectCandidate(view, incumbent, byPriorityThenVirtualTime),
};
