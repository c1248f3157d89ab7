import { execFileSync } from 'node:child_process';
import { availableParallelism } from 'node:os';

/**
 * Pins every thread of this process, and through inheritance every worker it starts later, to `cpus`
 * (a taskset list such as "0" or "0-1"), so a baseline and its candidate get exactly the same capacity.
 * Returns the number of usable cores afterwards.
 */
export function pinProcess(cpus: string): number {
  try {
    execFileSync('taskset', ['-a', '-p', '-c', cpus, String(process.pid)], { stdio: 'ignore' });
  } catch (error) {
    throw new Error(`taskset could not pin this process to CPUs ${cpus}: ${(error as Error).message}`);
  }
  return availableParallelism();
}

/** "0" for one core, "0-1" for two: the first `count` CPUs. */
export const firstCpus = (count: number) => (count === 1 ? '0' : `0-${count - 1}`);

/**
 * Moves individual threads (kernel thread ids, e.g. session workers) onto `cpus`: the serving benches give
 * the session threads a "device" core of their own, while the main thread, which dispatches requests, and
 * V8's helper threads stay on another.
 */
export function pinThreads(tids: number[], cpus: string): void {
  for (const tid of tids) execFileSync('taskset', ['-p', '-c', cpus, String(tid)], { stdio: 'ignore' });
}
