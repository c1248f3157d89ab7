import type { Worker, WorkerOptions } from 'node:worker_threads';
import { spawnWorker } from '../../src/workers/spawn.js';

/**
 * Starts one of bench/workers/*.worker.ts (named with `.js`, as imports are). Always resolved from here, so
 * that the device pack, which inlines every bench module into one bundle, finds them in one place too.
 */
export function spawnBenchWorker(
  name: string,
  options: WorkerOptions & { workerData?: Record<string, unknown> } = {},
): Worker {
  return spawnWorker(`../workers/${name}`, import.meta.url, options);
}
