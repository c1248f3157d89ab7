/**
 * Kernel thread ids, so a lock waiter can tell a dead lock holder from a slow one (Linux /proc; elsewhere
 * every id reads 0 and a dead holder is only ever cleared by the main thread's reclaim).
 */
import { closeSync, existsSync, openSync, readlinkSync, readSync } from 'node:fs';

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

/** The calling thread's CPU time, ms; `close` gives the descriptor back. */
export interface ThreadCpuClock {
  nowMs(): number;
  close(): void;
}

/**
 * A clock of the calling thread's CPU time, from /proc/thread-self/schedstat (its first field: ns run on a
 * CPU), or null where that cannot be read. The file stays open and each read is one pread (3 µs hot, 20–60
 * µs soon after the thread slept). The kernel brings the count up to date at each tick and context switch,
 * so a read lags by at most a tick (4 ms at HZ=250) and the differences of reads add up to the thread's CPU
 * time exactly. (CLOCK_THREAD_CPUTIME_ID, which is exact, is not reachable from JavaScript before Node
 * 23.9's process.threadCpuUsage.)
 */
export function threadCpuClock(): ThreadCpuClock | null {
  let fd: number;
  try {
    fd = openSync('/proc/thread-self/schedstat', 'r');
  } catch {
    return null;
  }
  const buffer = Buffer.alloc(96);
  // Digits parsed in place: no string is made, since a read often comes right after the thread slept, when
  // every call and allocation meets cold caches.
  const nowMs = () => {
    const length = readSync(fd, buffer, 0, buffer.length, 0);
    let ns = 0;
    for (let i = 0; i < length; i++) {
      const digit = buffer[i] - 48;
      if (digit < 0 || digit > 9) break;
      ns = ns * 10 + digit;
    }
    return ns / 1e6;
  };
  let readable = false;
  try {
    readable = Number.isFinite(nowMs());
  } catch {}
  if (!readable) {
    closeSync(fd);
    return null;
  }
  let open = true;
  return {
    nowMs,
    close() {
      if (open) closeSync(fd);
      open = false;
    },
  };
}
