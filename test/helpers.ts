import { MessagePort, type Worker } from 'node:worker_threads';
import { spawnWorker } from '../src/workers/spawn.js';

/** Starts a fixture worker from test/fixtures by file name. */
export function fixtureWorker(name: string, workerData: Record<string, unknown>): Worker {
  // Ports in workerData must be transferred with it.
  const transferList = Object.values(workerData).filter((value): value is MessagePort => value instanceof MessagePort);
  return spawnWorker(`./fixtures/${name}`, import.meta.url, { workerData, transferList });
}

export { nextMessage } from '../bench/lib/worker-messages.js';

export async function stopWorkers(workers: Worker[]): Promise<void> {
  await Promise.all(workers.map((worker) => worker.terminate()));
}
