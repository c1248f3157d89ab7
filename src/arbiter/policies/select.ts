import { SlotState } from '../layout.js';
import type { PolicyView } from './types.js';

/**
 * Orders two candidates; negative when `a` should run before `b`. Policies supply the primary key; the shared
 * tie-breaks follow in `selectCandidate`.
 */
export type CandidateOrder = (view: PolicyView, a: number, b: number) => number;

/**
 * Scans the waiting slots plus the incumbent and returns the first by `order`. Ties go to a waiter over the
 * incumbent (so equals take turns instead of the holder keeping the device) — unless the waiter is another
 * instance of the incumbent's own model, which would gain its account nothing and cost a handoff — then to
 * the slot granted least recently, then to the lower slot index (deterministic).
 */
export function selectCandidate(view: PolicyView, incumbent: number, order: CandidateOrder): number {
  let best = -1;
  for (let slot = 0; slot < view.slotCount; slot++) {
    if (slot !== incumbent && view.state(slot) !== SlotState.WAITING) continue;
    if (best === -1) {
      best = slot;
      continue;
    }
    const byPolicy = order(view, slot, best);
    if (byPolicy < 0 || (byPolicy === 0 && breaksTieBefore(view, incumbent, slot, best))) best = slot;
  }
  return best;
}

function breaksTieBefore(view: PolicyView, incumbent: number, a: number, b: number): boolean {
  if (b === incumbent) return view.account(a) !== view.account(b);
  if (a === incumbent) return view.account(a) === view.account(b);
  return view.grantedAt(a) < view.grantedAt(b);
}

export const byVirtualTime: CandidateOrder = (view, a, b) => view.virtualTime(a) - view.virtualTime(b);
