/**
 * What every session on the device has still to do, for admission: a request's wait depends on the other
 * models' work as much as on its own queue. One book per server, on the main thread (which owns every
 * session's queue); each session joins it with its remaining device time and its weight.
 *
 * The device is taken to be shared as the policies share it, by weight among the backlogged (generalised
 * processor sharing): while `ownMs` of a session's work is done, another session with weight w gets through
 * at most ownMs · w / ownWeight of its own, or all it has if that is less. Work that arrives meanwhile, and a
 * `deadline` policy's reordering, are left to admission's calibration (service-time.ts).
 */

/** A session's part in the book. */
export interface WorkSource {
  /** Device time of what it holds (queued and running), less what the running batch has been charged, ms. */
  remainingWorkMs(): number;
  /** Its model's weight: instances of one model each count with the model's. */
  readonly weight: number;
}

export class DeviceBook {
  readonly #sources = new Set<WorkSource>();

  /** `capacity`: how many sessions the device runs at once (its tokens, at most its cores). */
  constructor(readonly capacity: number) {}

  /** Adds a session; the returned function takes it out. */
  join(source: WorkSource): () => void {
    this.#sources.add(source);
    return () => this.#sources.delete(source);
  }

  /**
   * For `self`: the wall time until it has had `ownMs` more of the device, were it shared as it is queued
   * now, ms. The others' work is read once, here, so a caller asking for many amounts (every request in a
   * queue) pays for the reading once.
   */
  sharing(self: WorkSource): (ownMs: number) => number {
    const others = [...this.#sources]
      .filter((other) => other !== self)
      .map((other) => ({ workMs: other.remainingWorkMs(), weightRatio: other.weight / self.weight }));
    return (ownMs) => {
      if (ownMs <= 0) return 0;
      let totalMs = ownMs;
      for (const { workMs, weightRatio } of others) totalMs += Math.min(workMs, ownMs * weightRatio);
      // One session runs on one thread: more capacity shortens the others' part, never its own.
      return Math.max(ownMs, totalMs / this.capacity);
    };
  }
}
