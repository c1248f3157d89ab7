/**
 * A model session's worker thread (a piscina task handler): it serves its session's tasks one at a time
 * with the runtime in session-runtime.ts. It makes no policy decisions.
 *
 * The main thread stages the next task here while one runs (piscina's concurrentTasksPerWorker: 2), so
 * back-to-back requests follow each other without waiting for a message round trip. A token is never held
 * idle while another session waits for it (work conservation):
 * 1. At a batch's end, with more of its requests coming (the backlog word), the session offers its token:
 *    a waiter the policy prefers gets it at once, and otherwise it stays for the next request (KernelGate.end).
 *    Without more requests it goes back.
 * 2. A token kept past a task's end goes back one event-loop turn later unless the next task has started by
 *    then: a staged task's message is taken in that turn, so a kept token waits for no one.
 */
import { workerData } from 'node:worker_threads';
import { move, transferableSymbol, valueSymbol } from 'piscina';
import { nowMs } from '../arbiter/clock.js';
import { ErrorCode, serializeError, type SerializedError } from '../protocol/errors.js';
import type { BatchItem, MemoryReport, SessionInfo, SessionReply, SessionTask } from '../protocol/session-messages.js';
import { transferablesOf, type NamedTensors } from '../protocol/tensors.js';
import { claimRequest, kRequestStarted } from './session-layout.js';
import type { Runtime, SessionWorkerData } from './session-runtime.js';
import { engineFor } from './engines.js';

export type { SessionWorkerData } from './session-runtime.js';

const data = workerData as SessionWorkerData;
const stats = new Float64Array(data.stats);
const backlog = new Int32Array(data.backlog);
const engine = engineFor(data.model);
let runtime: Promise<Runtime> | null = null;
let turn: Promise<unknown> = Promise.resolve();
let idleHold: NodeJS.Immediate | null = null;
/** Tasks between the start and the end of `serve` (at most one: tasks run one at a time). */
let serving = 0;

export default async function handle(task: SessionTask): Promise<unknown> {
  const mine = turn.then(() => serve(task));
  turn = mine.catch(() => {});
  const reply = await mine;
  if (idleHold) clearImmediate(idleHold);
  idleHold = setImmediate(releaseIfIdle);
  return reply;
}

function releaseIfIdle(): void {
  idleHold = null;
  // Armed when a task's reply goes out, which can be after the next task has already started
  // (its continuation runs first); it must never take the token from under a running task.
  if (serving > 0) return;
  void runtime?.then(
    (session) => {
      if (serving === 0) session.release(Atomics.load(backlog, 0) > 0);
    },
    () => {},
  );
}

async function serve(task: SessionTask): Promise<unknown> {
  if (idleHold) clearImmediate(idleHold);
  idleHold = null;
  serving++;
  try {
    if (task.type === 'shutdown') {
      await (await runtime?.catch(() => null))?.dispose?.();
      await (await engine).shutdown();
      return { ok: true, value: null } satisfies SessionReply<null>;
    }
    const session = await (runtime ??= engine.then((chosen) => chosen.start(data, stats)));
    if (task.type === 'warmup') return { ok: true, value: session.info } satisfies SessionReply<SessionInfo>;
    if (task.type === 'collect') return { ok: true, value: session.collect() } satisfies SessionReply<MemoryReport>;
    return transferring(await serveBatch(session, task.batch));
  } catch (error) {
    return { ok: false, error: serializeError(error) } satisfies SessionReply<never>;
  } finally {
    serving--;
  }
}

/** Claims each request (skipping those the caller gave up on or whose deadline passed), runs the rest at once. */
async function serveBatch(session: Runtime, batch: BatchItem[]): Promise<SessionReply<NamedTensors>[]> {
  const replies: SessionReply<NamedTensors>[] = batch.map(() => failed(ErrorCode.CANCELLED, 'cancelled before it ran'));
  const live: number[] = [];
  const now = nowMs();
  batch.forEach((item, i) => {
    if (!claimRequest(new Int32Array(item.claim), backlog, kRequestStarted)) return;
    if (item.deadlineAtMs !== undefined && now > item.deadlineAtMs) {
      replies[i] = failed(ErrorCode.DEADLINE_EXCEEDED, 'the deadline passed before the model ran');
    } else live.push(i);
  });
  if (live.length === 0) return replies;
  try {
    const outputs = await session.runBatch(
      live.map((i) => batch[i].inputs),
      () => Atomics.load(backlog, 0) > 0,
    );
    live.forEach((i, k) => (replies[i] = { ok: true, value: outputs[k] }));
  } catch (error) {
    const reply = { ok: false as const, error: serializeError(error) };
    for (const i of live) replies[i] = reply;
  }
  return replies;
}

const failed = (code: SerializedError['code'], message: string): SessionReply<never> => ({
  ok: false,
  error: { code, message },
});

/** Results carry their tensors' buffers as transferables, so outputs are moved, never copied, to the caller. */
function transferring(replies: SessionReply<NamedTensors>[]) {
  const buffers = new Set(replies.flatMap((reply) => (reply.ok ? transferablesOf(reply.value) : [])));
  const value: SessionReply<SessionReply<NamedTensors>[]> = { ok: true, value: replies };
  return move({
    get [transferableSymbol]() {
      return [...buffers];
    },
    get [valueSymbol]() {
      return value;
    },
  } as never);
}
