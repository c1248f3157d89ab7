/** Latencies of the last `capacity` requests, for p50/p99 in stats: a ring buffer, no allocation per sample. */
export class LatencyWindow {
  readonly #samples: Float64Array;
  #count = 0;

  constructor(capacity = 2048) {
    this.#samples = new Float64Array(capacity);
  }

  record(ms: number): void {
    this.#samples[this.#count++ % this.#samples.length] = ms;
  }

  percentile(p: number): number {
    const n = Math.min(this.#count, this.#samples.length);
    if (n === 0) return 0;
    const sorted = this.#samples.slice(0, n).sort();
    return sorted[Math.min(n - 1, Math.max(0, Math.ceil((p / 100) * n) - 1))];
  }
}
