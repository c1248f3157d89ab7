/**
 * A session's thread through its life, and the session's slot on the arbiter with it: the thread is started
 * and warmed; a thread that dies has its token reclaimed and, after a backoff that doubles per crash in a
 * row, a fresh one is started on the revived slot; on close it is shut down and the slot given back.
 *
 * Apart from session.ts, which queues, batches and answers requests: the two meet in three hooks (the thread
 * is warm, it crashed, it is back after a restart) and in the pool the session posts its batches to.
 */
import type { Piscina } from 'piscina';
import type { DeviceArbiter } from '../arbiter/arbiter.js';
import type { TokenGrant } from '../arbiter/token-client.js';
import { Errors, type OlympianError } from '../protocol/errors.js';
import type { MemoryReport, SessionInfo } from '../protocol/session-messages.js';
import { kExitGpuLost, kExitReasonField } from './session-layout.js';
import type { SessionOptions } from './session-options.js';
import { newSessionPool, runTask, shutDownPool, type SharedViews } from './session-pool.js';

export type SessionState = 'starting' | 'ready' | 'restarting' | 'closing' | 'closed';

/** What the session does as its thread comes and goes. */
export interface ThreadHooks {
  /** The thread is warm and reported `info` (at the first start and after each restart). */
  warmed(info: SessionInfo): void;
  /** The thread is gone: what it held and what is queued fail with `error`. */
  crashed(error: OlympianError): void;
  /** A restarted thread is ready: what waits can be dispatched. */
  restarted(): void;
}

export class SessionThread {
  readonly #options: SessionOptions;
  readonly #arbiter: DeviceArbiter | null;
  readonly #shared: SharedViews;
  readonly #hooks: ThreadHooks;
  #grant: TokenGrant | null;
  #pool: Piscina | null = null;
  #info: SessionInfo | null = null;
  #state: SessionState = 'starting';
  #restarts = 0;
  #crashesInARow = 0;
  #restartTimer: NodeJS.Timeout | null = null;

  /** Registers the session on the arbiter (if any); `start()` starts the thread. */
  constructor(arbiter: DeviceArbiter | null, options: SessionOptions, shared: SharedViews, hooks: ThreadHooks) {
    this.#options = options;
    this.#arbiter = arbiter;
    this.#shared = shared;
    this.#hooks = hooks;
    const label = options.instance ? `${options.name}#${options.instance}` : options.name;
    this.#grant = arbiter
      ? arbiter.register({ name: label, weight: options.weight, priority: options.priority, account: options.account })
      : null;
  }

  get state(): SessionState {
    return this.#state;
  }

  get info(): SessionInfo {
    if (!this.#info) throw Errors.unavailable('the session has not started', this.#options.name);
    return this.#info;
  }

  get infoOrNull(): SessionInfo | null {
    return this.#info;
  }

  get grant(): TokenGrant | null {
    return this.#grant;
  }

  /** The pool to post to, or null while there is no thread (starting before its pool, restarting, closed). */
  get pool(): Piscina | null {
    return this.#pool;
  }

  get restarts(): number {
    return this.#restarts;
  }

  /** The model's weight now: its account's on the arbiter, else the one it was started with. */
  get weight(): number {
    return this.#grant && this.#arbiter ? this.#arbiter.weightOf(this.#grant.slot) : (this.#options.weight ?? 1);
  }

  /** Starts a pool and warms the model in it; rejects if the thread fails to warm up. */
  async start(): Promise<void> {
    const pool = newSessionPool(this.#options, this.#grant, this.#shared);
    this.#pool = pool;
    pool.on('error', (error: Error) => this.crashed(pool, error.message));
    pool.on('workerDestroy', () => this.crashed(pool, 'its worker thread exited'));
    const info = await runTask<SessionInfo>(pool, { type: 'warmup' }, this.#options.name);
    this.#info = info;
    this.#hooks.warmed(info);
    this.#state = 'ready';
    this.#crashesInARow = 0;
  }

  /** Terminates the thread wherever it is, exactly as a crash would end it (see Session.killThread). */
  async kill(): Promise<void> {
    const thread = this.#pool?.threads[0];
    if (!thread) throw Errors.unavailable(`session is ${this.#state}`, this.#options.name);
    await thread.terminate();
  }

  async collect(): Promise<MemoryReport> {
    if (!this.#pool || this.#state !== 'ready')
      throw Errors.unavailable(`session is ${this.#state}`, this.#options.name);
    return runTask<MemoryReport>(this.#pool, { type: 'collect' }, this.#options.name);
  }

  /** The session is closing: no restart from now on. Returns whether it was waiting for one. */
  beginClose(): boolean {
    const wasRestarting = this.#state === 'restarting';
    this.#state = 'closing';
    if (this.#restartTimer) clearTimeout(this.#restartTimer);
    return wasRestarting;
  }

  /** Once the session has drained: shuts the thread down and gives the slot back. */
  async stop(): Promise<void> {
    const pool = this.#pool;
    this.#pool = null;
    if (pool) await shutDownPool(pool);
    if (this.#grant) this.#arbiter?.unregister(this.#grant.slot);
    this.#grant = null;
    this.#state = 'closed';
  }

  /**
   * Once per pool: fail what it held, reclaim the token, and start a fresh pool after a backoff. A session
   * whose first start failed is not restarted: `Session.start()` reports that failure to its caller.
   */
  crashed(pool: Piscina, why: string): void {
    if (pool !== this.#pool || this.#state === 'closing' || this.#state === 'closed') return;
    const firstStart = this.#info === null;
    this.#pool = null;
    this.#state = 'restarting';
    this.#restarts++;
    if (this.#grant) this.#arbiter?.reclaim(this.#grant.slot);
    // The thread may have left word of why it ended itself.
    const stats = this.#shared.stats;
    const gpuLost = stats[kExitReasonField] === kExitGpuLost;
    stats[kExitReasonField] = 0;
    this.#hooks.crashed(
      Errors.sessionCrashed(this.#options.name, gpuLost ? 'its GPU device was lost; it restarts on a new one' : why),
    );
    void pool.destroy().catch(() => {});
    if (!firstStart) this.#scheduleRestart();
  }

  #scheduleRestart(): void {
    const base = this.#options.restartBackoffMs ?? 100;
    const delayMs = Math.min(this.#options.restartMaxMs ?? 10_000, base * 2 ** this.#crashesInARow++);
    this.#restartTimer = setTimeout(() => void this.#restart(), delayMs);
  }

  async #restart(): Promise<void> {
    this.#restartTimer = null;
    if (this.#state !== 'restarting') return;
    if (this.#grant && this.#arbiter) this.#grant = this.#arbiter.revive(this.#grant.slot);
    this.#state = 'starting';
    try {
      await this.start();
      this.#hooks.restarted();
    } catch {
      // A thread that crashed while warming up was handled by crashed() already (the state says so); one that
      // answered its warm-up with an error is a failed restart all the same, and so is a pool never made.
      if (this.#state !== 'starting') return;
      if (this.#pool) this.crashed(this.#pool, 'restart failed');
      else {
        this.#state = 'restarting';
        this.#scheduleRestart();
      }
    }
  }
}
