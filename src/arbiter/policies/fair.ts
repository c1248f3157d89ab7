/**
 * fair — start-time fair queuing with every session at weight 1.
 * 1. Charging `costMs` advances the session's virtual time by `costMs`, whatever its configured weight.
 * 2. The token goes to the candidate with the smallest virtual time.
 * 3. Ties: a waiter before the holder, then the one granted least recently.
 * 4. A session returning from idle starts no earlier than the smallest active virtual time (the system
 *    virtual time when none is active) less one quantum, set by the mechanism: idleness banks at most one
 *    quantum of credit.
 */
import { byVirtualTime, selectCandidate } from './select.js';
import type { Policy } from './types.js';

export const fair: Policy = {
  name: 'fair',
  advance: (costMs) => costMs,
  pick: (view, incumbent) => selectCandidate(view, incumbent, byVirtualTime),
};
