import { Worker, type WorkerOptions } from 'node:worker_threads';

/** Key under which the TypeScript bootstrap finds the real entry; stripped of meaning in compiled mode. */
export const kEntryKey = '__olympianEntry';

export interface WorkerSource {
  /** What to hand to `new Worker()` or piscina's `filename`. */
  filename: URL;
  /** Merge into the worker's `workerData` (carries the real entry in source mode). */
  workerData: Record<string, unknown>;
}

/**
 * Resolves a worker module the same way whether olympian runs from its TypeScript sources (tests, `npm start`)
 * or from `dist/`: callers name the sibling module with a `.js` extension, as NodeNext imports do, and this
 * picks the `.ts` file beside the caller when the caller itself is TypeScript.
 */
export function workerSource(relative: string, callerUrl: string): WorkerSource {
  const fromSource = callerUrl.endsWith('.ts');
  const target = new URL(fromSource ? relative.replace(/\.js$/, '.ts') : relative, callerUrl);
  if (!fromSource) return { filename: target, workerData: {} };
  return {
    filename: new URL('./ts-entry.mjs', import.meta.url),
    workerData: { [kEntryKey]: target.href },
  };
}

/** Starts a plain worker thread on `relative` (resolved against `callerUrl`), from sources or from dist. */
export function spawnWorker(
  relative: string,
  callerUrl: string,
  options: WorkerOptions & { workerData?: Record<string, unknown> } = {},
): Worker {
  const source = workerSource(relative, callerUrl);
  return new Worker(source.filename, {
    ...options,
    workerData: { ...(options.workerData ?? {}), ...source.workerData },
  });
}
