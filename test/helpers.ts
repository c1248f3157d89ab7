import { once } from 'node:events';
import type { Worker } from 'node:worker_threads';
import { spawnWorker } from '../src/workers/spawn.js';

/** Starts a fixture worker from test/fixtures by file name. */
export function fixtureWorker(name: string, workerData: Record<string, unknown>): Worker {
  return spawnWorker(`./fixtures/${name}`, import.meta.url, { workerData });
}

/** The next message of `type` from `worker`; rejects if the worker fails or exits first. */
export function nextMessage<T = any>(worker: Worker, type: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: any) => {
      if (message?.type !== type) return;
      cleanup();
      resolve(message);
    };
    const onError = (error: Error) => {
      cleanup();
      reject(error);
    };
    const onExit = (code: number) => {
      cleanup();
      reject(new Error(`worker exited (${code}) before sending ${type}`));
    };
    const cleanup = () => {
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
    };
    worker.on('message', onMessage);
    worker.once('error', onError);
    worker.once('exit', onExit);
  });
}

export async function stopWorkers(workers: Worker[]): Promise<void> {
  await Promise.all(workers.map((worker) => worker.terminate()));
}

export async function exited(worker: Worker): Promise<number> {
  const [code] = await once(worker, 'exit');
  return code as number;
}
