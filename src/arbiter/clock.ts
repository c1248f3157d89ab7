/**
 * One clock for every thread: CLOCK_MONOTONIC through `process.hrtime`, in milliseconds. `performance.now()`
 * would not do: each worker's is relative to its own start, so times written by one thread and read by
 * another would disagree.
 */
export function nowMs(): number {
  const [seconds, nanos] = process.hrtime();
  return seconds * 1e3 + nanos / 1e6;
}
