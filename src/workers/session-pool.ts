/**
 * The piscina pool that carries a session's one thread: how it is made (one thread, two tasks at a time, a
 * smaller young generation), the tasks the main thread posts to it and their replies, and how it is shut
 * down. Apart from the thread's life cycle (session-thread.ts) and the session's queue (session.ts), which
 * decide when to start, post and stop; this module is the one that knows piscina's options.
 */
import { Piscina } from 'piscina';
import type { TokenGrant } from '../arbiter/token-client.js';
import { Errors, fromSerialized } from '../protocol/errors.js';
import type { SessionReply, SessionTask } from '../protocol/session-messages.js';
import { transferablesOf, type NamedTensors } from '../protocol/tensors.js';
import type { Pending } from './request-queue.js';
import type { SessionOptions } from './session-options.js';
import type { SessionWorkerData } from './session-runtime.js';
import { workerSource } from './spawn.js';

/** Requests handed to the worker at once: one running, one staged (see session.worker.ts). */
export const kStaged = 2;
/**
 * V8's young generation per session thread, MiB. Its default (up to 48 MiB of semi-spaces) stays resident in
 * every thread. Smaller saves memory but scavenges more often, inside inferences. Measured in a thread pinned
 * to one core (bench/results/scale.md and BENCHMARKS.md have the trade): 16 → 8 saves 7.6 MiB per session and
 * doubles the scavenges, +0.2 ms of GC per MobileNet-v2@64 inference (8.3 ms) and +0.16 ms per GoogLeNet@96
 * one (28 ms); 4 would save ~4 MiB more for another +0.1–0.2 ms.
 */
const kYoungGenerationMb = 8;
/** How long a closing session waits for its thread to release the device, ms. */
const kShutdownTimeoutMs = 5000;

/** What the thread shares with the main thread: the session's stats buffer and its backlog word. */
export interface SharedViews {
  stats: Float64Array;
  backlog: Int32Array;
}

/** A pool of exactly one thread that loads the session's model with `grant` on the device; not yet warm. */
export function newSessionPool(options: SessionOptions, grant: TokenGrant | null, shared: SharedViews): Piscina {
  const source = workerSource('./session.worker.js', import.meta.url);
  const data: SessionWorkerData = {
    name: options.name,
    model: options.model,
    backend: options.backend ?? 'auto',
    grant,
    stats: shared.stats.buffer as SharedArrayBuffer,
    backlog: shared.backlog.buffer as SharedArrayBuffer,
    gateMode: options.gateMode ?? 'overlap',
    accounting: options.accounting ?? 'measured',
    profile: options.profile,
    autoProfile: options.autoProfile ?? false,
    gpuTiming: options.gpuTiming ?? false,
    executionProviders: options.executionProviders,
    intraOpThreads: options.intraOpThreads,
    segmentMs: options.segmentMs,
    warmupInputs: options.warmupInputs,
    maxBatch: options.maxBatch,
  };
  return new Piscina({
    filename: source.filename.href,
    workerData: { ...data, ...source.workerData },
    minThreads: 1,
    maxThreads: 1,
    concurrentTasksPerWorker: kStaged,
    idleTimeout: Infinity,
    // Kernels block the thread anyway; async atomics keep the worker's event loop free between tasks.
    atomics: 'async',
    resourceLimits: { maxYoungGenerationSizeMb: kYoungGenerationMb },
  });
}

/** Runs a task that answers one reply: its value, or the thread's error as the session's (`name`). */
export async function runTask<T>(pool: Piscina, task: SessionTask, name: string): Promise<T> {
  const reply = (await pool.run(task)) as SessionReply<T>;
  if (!reply.ok) throw Errors.inSession(fromSerialized(reply.error), name);
  return reply.value;
}

/** Posts a batch of requests, their buffers moved rather than copied; the reply holds one reply per request. */
export function postBatch(pool: Piscina, batch: Pending[]): Promise<SessionReply<SessionReply<NamedTensors>[]>> {
  const task: SessionTask = {
    type: 'infer',
    batch: batch.map((p) => ({
      inputs: p.inputs,
      claim: p.claim.buffer as SharedArrayBuffer,
      deadlineAtMs: p.deadlineAtMs,
    })),
  };
  // Each buffer once: two requests may share one (a caller's `transfer: true` of the same array twice), and
  // a transfer list that names a buffer twice fails the whole post.
  const transferList = [...new Set(batch.flatMap((p) => transferablesOf(p.inputs)))];
  return pool.run(task, { transferList: transferList as never });
}

/**
 * Lets the thread release its device before it is terminated (see shutdownWebgpu); bounded, in case the
 * thread is stuck.
 */
export async function shutDownPool(pool: Piscina): Promise<void> {
  const shutdown = pool.run({ type: 'shutdown' } satisfies SessionTask).catch(() => {});
  await Promise.race([shutdown, new Promise((resolve) => setTimeout(resolve, kShutdownTimeoutMs).unref())]);
  await pool.destroy();
}
