/**
 * Runs every `test/**\/*.test.ts` with uvu in one process (`npm test`, or `npm test -- <pattern>`), then
 * prints the plain closing line `N passed, N failed` that CI reads. A watchdog fails the run if some test
 * left a thread or handle behind that keeps the process alive.
 */
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

const root = fileURLToPath(new URL('.', import.meta.url));
const pattern = process.argv[2] ? new RegExp(process.argv[2]) : /\.test\.ts$/;

function findTests(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'fixtures' ? [] : findTests(path);
    return entry.name.endsWith('.test.ts') && pattern.test(relative(root, path)) ? [path] : [];
  });
}

/**
 * uvu has no test timeout, and a hang in synchronous code (a deadlock on a lock word) stops the main thread's
 * timers too; CI then only ends at its own limit, with nothing said. So a thread of its own ends the run
 * when no test has reported for kSilenceMs (the slowest suite takes ~25 s here), naming where it stopped.
 */
const kSilenceMs = 180_000;
const heartbeat = new Int32Array(new SharedArrayBuffer(4 + 4 + 512));
const kHeadingBytes = new Uint8Array(heartbeat.buffer, 8);
const startedAt = Date.now();
const beat = (heading?: string) => {
  if (heading) {
    const bytes = Buffer.from(heading).subarray(0, kHeadingBytes.length);
    kHeadingBytes.fill(0).set(bytes);
    Atomics.store(heartbeat, 1, bytes.length);
  }
  Atomics.store(heartbeat, 0, Math.floor((Date.now() - startedAt) / 1000));
};
const watchdog = new Worker(new URL('./watchdog.worker.mjs', import.meta.url), {
  workerData: { heartbeat: heartbeat.buffer, silenceS: kSilenceMs / 1000, startedAt },
});
watchdog.unref();

// uvu prints its own totals; count them as they pass by so the closing line reports what really ran.
let total = 0;
let passed = 0;
const write = process.stdout.write.bind(process.stdout);
process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
  const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
  const plain = text.replace(/\x1b\[[0-9;]*m/g, '');
  const heading = plain.replace(/[•✘\s]+/g, ' ').trim();
  beat(heading.length > 2 ? heading : undefined);
  const totalMatch = /Total:\s+(\d+)/.exec(plain);
  const passedMatch = /Passed:\s+(\d+)/.exec(plain);
  if (totalMatch) total = Number(totalMatch[1]);
  if (passedMatch) passed = Number(passedMatch[1]);
  return (write as (...args: unknown[]) => boolean)(chunk, ...rest);
}) as typeof process.stdout.write;

const files = findTests(root).sort();
if (files.length === 0) {
  console.error(`no test file matches ${pattern}`);
  process.exit(1);
}
const { run } = await import('uvu/run');
await run(
  files.map((file) => ({ name: relative(root, file), file })),
  { bail: false },
);
console.log(`${passed} passed, ${total - passed} failed`);
if (total === 0) process.exitCode = 1;
await watchdog.terminate();

// Every test stops what it starts; a handle still open after this long is a leak, and a hang in CI.
setTimeout(() => {
  console.error('tests finished but the process did not exit: a worker or handle was left open');
  process.exit(1);
}, 20_000).unref();
