/**
 * The grant/release trace: which session held a token when (the paper's interleaving figure). Sessions write
 * events into a ring in the shared buffer under the lock (mechanism.ts `traceLocked`); the main thread turns
 * them into hold intervals here.
 */
import { kTraceCapacity, kTraceCountField, kTraceOnField, TraceEvent, type ArbiterViews } from './layout.js';

export interface TraceRecord {
  /** When, on the `nowMs()` clock (monotonic, the same in every thread), ms. */
  atMs: number;
  slot: number;
  session: string;
  event: 'grant' | 'release';
}

export interface HoldInterval {
  session: string;
  slot: number;
  startMs: number;
  endMs: number;
}

/** Under the lock: turns tracing on or off; turning it on starts an empty trace. */
export function setTracingLocked(views: ArbiterViews, on: boolean): void {
  if (on) Atomics.store(views.i32, kTraceCountField, 0);
  Atomics.store(views.i32, kTraceOnField, on ? 1 : 0);
}

/** Under the lock: the events still in the ring, oldest first; `dropped` counts those overwritten. */
export function readTraceLocked(
  views: ArbiterViews,
  names: ReadonlyMap<number, string>,
): { events: TraceRecord[]; dropped: number } {
  const count = Atomics.load(views.i32, kTraceCountField);
  const kept = Math.min(count, kTraceCapacity);
  const events: TraceRecord[] = [];
  for (let n = count - kept; n < count; n++) {
    const at = n % kTraceCapacity;
    const word = views.traceEvent[at];
    const slot = word >> 1;
    events.push({
      atMs: views.traceAt[at],
      slot,
      session: names.get(slot) ?? `slot ${slot}`,
      event: (word & 1) === TraceEvent.RELEASE ? 'release' : 'grant',
    });
  }
  // The count folds back at kTraceWrap, so it cannot say how many were lost after that; report a lower bound.
  return { events, dropped: count - kept };
}

/**
 * Pairs each grant with the same slot's next release. A hold still open at the end of the trace ends at
 * `endMs`; a release whose grant fell out of the ring starts at the first event's time.
 */
export function holdIntervals(events: readonly TraceRecord[], endMs = events.at(-1)?.atMs ?? 0): HoldInterval[] {
  const open = new Map<number, TraceRecord>();
  const holds: HoldInterval[] = [];
  const firstMs = events[0]?.atMs ?? 0;
  for (const event of events) {
    if (event.event === 'grant') {
      open.set(event.slot, event);
      continue;
    }
    const grant = open.get(event.slot);
    open.delete(event.slot);
    holds.push({ session: event.session, slot: event.slot, startMs: grant?.atMs ?? firstMs, endMs: event.atMs });
  }
  for (const grant of open.values())
    holds.push({ session: grant.session, slot: grant.slot, startMs: grant.atMs, endMs: Math.max(endMs, grant.atMs) });
  return holds.sort((a, b) => a.startMs - b.startMs);
}
