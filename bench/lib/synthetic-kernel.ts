/**
 * A synthetic kernel: a calibrated number of xorshift steps. Its cost is counted in iterations, not wall
 * time, so a thread descheduled mid-kernel still owes the same work (a wall-clock busy-wait would finish on
 * time while doing nothing, and hide unfairness).
 */
export function spinKernel(iterations: number): number {
  let x = 0x9e3779b9 | 0;
  for (let i = 0; i < iterations; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
  }
  return x;
}

/** Iterations of `spinKernel` per ms on this thread, alone: the median of `rounds` timed runs. */
export function calibrateSpin(rounds = 15, probeIterations = 2_000_000): number {
  spinKernel(probeIterations); // let the JIT settle before timing
  const rates: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const start = performance.now();
    spinKernel(probeIterations);
    rates.push(probeIterations / (performance.now() - start));
  }
  rates.sort((a, b) => a - b);
  return rates[Math.floor(rates.length / 2)];
}
