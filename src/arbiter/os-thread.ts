/**
 * Kernel thread ids, so a lock waiter can tell a dead lock holder from a slow one (Linux /proc; elsewhere
 * every id reads 0 and a dead holder is only ever cleared by the main thread's reclaim).
 */
import { existsSync, readlinkSync } from 'node:fs';

/** The calling thread's kernel thread id (what /proc/self/task/<tid> is named by), or 0 where /proc is missing. */
export function currentThreadId(): number {
  try {
    return Number(readlinkSync('/proc/thread-self').split('/').pop()) || 0;
  } catch {
    return 0;
  }
}

/**
 * Whether thread `tid` of this process still exists. A terminated worker's OS thread is gone within a few ms
 * of `worker.terminate()`, without the main thread's event loop (so a main thread blocked in `lock` sees it).
 * Ids are recycled only after the kernel's pid space wraps (pid_max, 4M by default), far beyond one wait.
 */
export function threadAlive(tid: number): boolean {
  return existsSync(`/proc/self/task/${tid}`);
}
