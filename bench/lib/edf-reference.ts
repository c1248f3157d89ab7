/**
 * A yardstick for the targets: what earliest-deadline-first does on the same arrivals on an ideal device —
 * preemptive, no overhead, each request taking its model's mean in-mix service time, nothing refused on
 * arrival, and a request dropped once it can no longer finish in time (plain EDF would run it anyway and make
 * the ones behind it late too, the domino effect of EDF under overload). Not an upper bound — maximising the
 * number of deadlines met is a harder problem than EDF solves — but what a good deadline scheduler with no
 * costs of its own attains here, next to which the server's figures can be read.
 */
import type { Arrival } from './open-loop.js';

export function referenceEdfAttainment(arrivals: Arrival[], serviceMs: number[], sloMs: number[]): number[] {
  const met = serviceMs.map(() => 0);
  const total = serviceMs.map(() => 0);
  // Pending jobs as [deadline, arrival, model, remaining ms], kept sorted by deadline (few pend at once).
  const pending: [number, number, number, number][] = [];
  let now = 0;
  let next = 0;
  while (next < arrivals.length || pending.length > 0) {
    if (pending.length === 0) now = Math.max(now, arrivals[next].atMs);
    while (next < arrivals.length && arrivals[next].atMs <= now) {
      const { model, atMs } = arrivals[next++];
      total[model]++;
      const job: [number, number, number, number] = [atMs + sloMs[model], atMs, model, serviceMs[model]];
      const at = pending.findIndex((other) => other[0] > job[0]);
      pending.splice(at < 0 ? pending.length : at, 0, job);
    }
    const job = pending[0];
    if (now + job[3] > job[0]) {
      pending.shift();
      continue;
    }
    const arrivesAt = next < arrivals.length ? arrivals[next].atMs : Infinity;
    if (now + job[3] <= arrivesAt) {
      now += job[3];
      pending.shift();
      if (now - job[1] <= sloMs[job[2]]) met[job[2]]++;
    } else {
      job[3] -= arrivesAt - now;
      now = arrivesAt;
    }
  }
  return met.map((count, i) => count / Math.max(1, total[i]));
}
