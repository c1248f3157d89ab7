/**
 * What an ideal scheduler could attain on the same arrivals: preemptive earliest-deadline-first on one device
 * with no overhead, each request taking its model's mean in-mix service time, nothing refused. EDF meets every
 * deadline any schedule of a single device can meet for a given set of jobs, and constant service times are its
 * easiest case, so this bounds what any policy can attain without shedding — a yardstick for the targets, not
 * a result of this server.
 */
import type { Arrival } from './open-loop.js';

export function idealEdfAttainment(arrivals: Arrival[], serviceMs: number[], sloMs: number[]): number[] {
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
