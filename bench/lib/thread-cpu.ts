import { readFileSync } from 'node:fs';

export { currentThreadId } from '../../src/arbiter/os-thread.js';

/**
 * CPU time a thread of this process has used, ms. Prefers schedstat's nanosecond run time; falls back to
 * utime + stime from stat, whose 10 ms ticks are too coarse for short windows.
 */
export function threadCpuMs(tid: number): number {
  try {
    const [runNs] = readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ');
    return Number(runNs) / 1e6;
  } catch {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  }
}
