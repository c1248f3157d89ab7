// Source-mode bootstrap for worker threads (tests and `npm start` run TypeScript directly).
// Node 20 does not apply the main thread's `--import tsx` hooks inside worker threads, so the worker
// registers tsx itself before importing its real entry. The compiled package never loads this file.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
const entry = workerData?.__olympianEntry;
const mod = await import(entry);
export default mod.default;
