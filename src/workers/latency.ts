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
    return LatencyWindow.percentileOf([this], p);
  }

  /** The percentile over several windows' samples together (a model's instances). */
  static percentileOf(windows: readonly LatencyWindow[], p: number): number {
    const parts = windows.map((window) => window.#samples.subarray(0, Math.min(window.#count, window.#samples.length)));
    const n = parts.reduce((sum, part) => sum + part.length, 0);
    if (n === 0) return 0;
    const sorted = new Float64Array(n);
    let offset = 0;
    for (const part of parts) {
      sorted.set(part, offset);
      offset += part.length;
    }
    sorted.sort();
    return sorted[Math.min(n - 1, Math.max(0, Math.ceil((p / 100) * n) - 1))];
  }
}
