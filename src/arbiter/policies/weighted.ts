/**
 * weighted — start-time fair queuing on weighted virtual time.
 * 1. Charging `costMs` advances the session's virtual time by `costMs / weight`, so over a backlogged
 *    interval session i receives weight_i / sum(weights) of the device.
 * 2. The token goes to the candidate with the smallest virtual time.
 * 3. Ties: a waiter before the holder, then the one granted least recently.
 * 4. A session returning from idle starts no earlier than the smallest active virtual time (the system
 *    virtual time when none is active) less one quantum of its own weighted service.
 */
import { byVirtualTime, selectCandidate } from './select.js';
import type { Policy } from './types.js';

export const weighted: Policy = {
  name: 'weighted',
  advance: (costMs, weight) => costMs / weight,
  pick: (view, incumbent) => selectCandidate(view, incumbent, byVirtualTime),
};
