/**
 * What every session on the device has still to do, for admission: a request's wait depends on the other
 * models' work as much as on its own queue. One book per server, on the main thread (which owns every
 * session's queue); each session joins it with its remaining device time and its weight.
 *
 * The device is taken to be shared as the policies share it, by weight among the backlogged (generalised
 * processor sharing): while `ownMs` of a session's work is done, another session with weight w gets through
 * at most ownMs · w / ownWeight of its own, or all it has if that is less. Under the `deadline` policy a
 * request with a deadline waits instead for the others' work with earlier deadlines, and for the rest of
 * theirs only as far as the bounded lag lets them claim their share (policies/deadline.ts, rule 5): sharing
 * by weight there made a short model's urgent request look as slow as its share of every backlog, and
 * admission refused it at light load. Work that arrives meanwhile, a kernel that cannot be preempted and the
 * handoffs are left to admission's calibration (service-time.ts).
 */

/** A session's part in the book. */
export interface WorkSource {
  /** Device time of what it holds (queued and running), less what the running batch has been charged, ms. */
  remainingWorkMs(): number;
  /** Device time of what it holds up to its last request with a deadline before `deadlineAtMs`, ms (0: none). */
  workBeforeMs(deadlineAtMs: number): number;
  /** Its model's weight: instances of one model each count with the model's. */
  readonly weight: number;
}

/** How the device orders work now: by deadline within `lagMs` of service behind the weighted share, or by weight. */
export interface DeviceOrder {
  deadlineFirst: boolean;
  lagMs: number;
}

const byWeight = (): DeviceOrder => ({ deadlineFirst: false, lagMs: 0 });

export class DeviceBook {
  readonly #sources = new Set<WorkSource>();

  /** `capacity`: how many sessions the device runs at once (its tokens, at most its cores). */
  constructor(
    readonly capacity: number,
    private readonly order: () => DeviceOrder = byWeight,
  ) {}

  /** Adds a session; the returned function takes it out. */
  join(source: WorkSource): () => void {
    this.#sources.add(source);
    return () => this.#sources.delete(source);
  }

  /**
   * For `self`: the wall time until it has had `ownMs` more of the device, were it shared as it is queued
   * now, for a request due at `deadlineAtMs` (Infinity: none), ms. The others' work is read once, here, so a
   * caller asking for many amounts (every request in a queue) pays for the reading once.
   */
  sharing(self: WorkSource, deadlineAtMs = Infinity): (ownMs: number) => number {
    const { deadlineFirst, lagMs } = this.order();
    const byDeadline = deadlineFirst && Number.isFinite(deadlineAtMs);
    const others = [...this.#sources]
      .filter((other) => other !== self)
      .map((other) => ({
        workMs: other.remainingWorkMs(),
        urgentMs: byDeadline ? other.workBeforeMs(deadlineAtMs) : 0,
        weightRatio: other.weight / self.weight,
      }));
    return (ownMs) => {
      if (ownMs <= 0) return 0;
      let totalMs = ownMs;
      for (const { workMs, urgentMs, weightRatio } of others) {
        const shareMs = ownMs * weightRatio;
        totalMs += Math.min(workMs, byDeadline ? Math.max(urgentMs, shareMs - lagMs) : shareMs);
      }
      // One session runs on one thread: more capacity shortens the others' part, never its own.
      return Math.max(ownMs, totalMs / this.capacity);
    };
  }
}
