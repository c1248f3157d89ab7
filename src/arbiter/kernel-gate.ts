import type { ThreadCpuClock } from './os-thread.js';
import type { TokenClient } from './token-client.js';

/**
 * How much of the CPU time not yet charged each charge takes up (the rest is the quantum's occupancy). 0.25:
 * a 4 ms tick spreads over about four 1 ms quanta (simulated: charges 0.7–1.5 ms for 1 ms quanta, never 0).
 */
const kCpuCatchUp = 0.25;
/**
 * How much occupancy passes between reads of the CPU clock, ms. The clock moves only at ticks and context
 * switches, and a read is dear where most are taken, soon after the thread slept (45–60 µs measured inside
 * synthetic sessions; 3 µs hot): read at every charge, the reads alone cost those sessions 4.2 points of
 * makespan for the same work (median of six interleaved triples).
 */
const kCpuReadEveryMs = 4;

/**
 * The kernel gate's accounting core: every kernel charges its cost here; when the session has used its
 * quantum, the token is offered to the arbiter. `charge` is on the hot path of every kernel launch, so it is
 * one add and one compare; everything else happens at quantum boundaries.
 */
export class KernelGate {
  readonly #client: TokenClient;
  #usedMs = 0;
  #quantumMs = Infinity;
  #longestKernelMs = 0;
  /** When the token was last granted or occupancy last charged (performance.now()). */
  #markMs = 0;
  /** Held time inside units of work, ms (see `heldMs`), and where the current stretch of it began. */
  #heldMs = 0;
  #heldSinceMs = 0;
  #inUnit = false;

  /** Runs at every quantum boundary before the token is offered (webgpu: submit what is encoded). */
  readonly #onBoundary: (() => void) | undefined;
  /**
   * webgpu `strict`: a boundary only marks the yield as due (`yieldDue`); the caller waits for the GPU at its
   * next await point and then calls `yieldNow`. A kernel hook cannot wait for the GPU itself: the GPU's
   * completion is a promise, and a blocked thread never runs its event loop. Set per unit of work: only a
   * run that has await points may defer (one without would hold the token to its end).
   */
  deferYield: boolean;
  #yieldDue = false;
  /**
   * On a CPU backend the device is the thread's core, so with `cpuClock` a session is charged the thread's CPU
   * time (its work between units included) rather than the time it held the token, which also counts what
   * other threads ran on the core meanwhile (the main thread, the GC's helpers). Quanta still end by occupancy.
   * The clock moves in scheduler ticks (4 ms at HZ=250), so its differences come in lumps: charged as they
   * come, a holder was charged nothing for three 1 ms quanta in four, kept the token through them, and the
   * interleaving coarsened to the tick. Each charge is therefore mostly the quantum's occupancy, plus a
   * fraction (kCpuCatchUp) of the CPU time the clock shows beyond what was charged so far: the gap shrinks
   * geometrically, so the charged total follows the CPU time to within about a tick or a quantum, whatever
   * the window, and each charge stays near the quantum. No stretch is left out, not even a wait for the
   * token: the clock lags, and a stretch cut out between two reads would take with it work done before it
   * that the first read had not seen yet (leaving out waits put the instances bench's shares by CPU time
   * 6–8% off).
   */
  readonly #cpuClock: ThreadCpuClock | null;
  /** Hears every charge the arbiter is given, so the session's own total is the arbiter's. */
  readonly #onCharged: ((costMs: number) => void) | undefined;
  /** The clock's reading at the start plus every charge since, ms: what the clock would show if charges were exact. */
  #cpuChargedMs = 0;
  /** The clock's last reading, and the occupancy charged since it was taken. */
  #cpuShownMs = 0;
  #usedSinceReadMs = 0;

  constructor(
    client: TokenClient,
    onBoundary?: () => void,
    options: {
      deferYield?: boolean;
      cpuClock?: ThreadCpuClock | null;
      onCharged?: (costMs: number) => void;
    } = {},
  ) {
    this.#client = client;
    this.#onBoundary = onBoundary;
    this.deferYield = options.deferYield ?? false;
    this.#cpuClock = options.cpuClock ?? null;
    this.#onCharged = options.onCharged;
    if (this.#cpuClock) {
      this.#cpuShownMs = this.#cpuClock.nowMs();
      this.#cpuChargedMs = this.#cpuShownMs;
    }
  }

  /** What to charge for `usedMs` of occupancy: that, or with a CPU clock, that steered toward the CPU time. */
  #costOf(usedMs: number): number {
    let costMs = usedMs;
    if (this.#cpuClock) {
      this.#usedSinceReadMs += usedMs;
      if (this.#usedSinceReadMs >= kCpuReadEveryMs) {
        this.#usedSinceReadMs = 0;
        this.#cpuShownMs = this.#cpuClock.nowMs();
      }
      // Negative when occupancy has run ahead of the clock (a preempted holder, or a tick not yet seen).
      const unchargedMs = this.#cpuShownMs - this.#cpuChargedMs;
      costMs = Math.max(0, (1 - kCpuCatchUp) * usedMs + kCpuCatchUp * unchargedMs);
      this.#cpuChargedMs += costMs;
    }
    this.#onCharged?.(costMs);
    return costMs;
  }

  /** Whether this session holds a token now. */
  get holding(): boolean {
    return this.#client.holding;
  }

  /** Takes a token before the first kernel of a unit of work (an inference, a batch), unless still held. */
  begin(): void {
    this.#inUnit = true;
    if (this.#client.holding) {
      this.#heldSinceMs = performance.now();
      return;
    }
    this.#client.acquire();
    this.#usedMs = 0;
    this.#quantumMs = this.#client.quantumMs;
    this.#markMs = performance.now();
    this.#heldSinceMs = this.#markMs;
  }

  #countHeld(): void {
    const now = performance.now();
    if (this.#inUnit && this.#client.holding) this.#heldMs += now - this.#heldSinceMs;
    this.#heldSinceMs = now;
  }

  /**
   * Time this session held a token inside units of work (from `begin` to `end`, less the waits inside
   * yields), ms: the device time it kept busy, or at least kept from everyone else. A token kept between
   * units does not count, so what a device's tokens spent outside this is time they stood idle.
   */
  get heldMs(): number {
    return this.#heldMs;
  }

  /**
   * Device occupancy since the token was granted or this was last called, ms. On a synchronous backend the
   * token holder occupies the device between kernels too (the engine's bookkeeping, tensor set-up, reading
   * results), so charging only the kernels' own time would let many-kernel models use more than their share.
   */
  sinceMark(): number {
    const now = performance.now();
    const elapsed = now - this.#markMs;
    this.#markMs = now;
    return elapsed;
  }

  charge(costMs: number): void {
    this.#usedMs += costMs;
    if (costMs > this.#longestKernelMs) this.#longestKernelMs = costMs;
    if (this.#usedMs >= this.#quantumMs && !this.#yieldDue) {
      this.#onBoundary?.();
      if (this.deferYield) this.#yieldDue = true;
      else this.#yieldAt();
    }
  }

  /** A deferred yield is waiting for `yieldNow` (strict mode: the quantum is used up). */
  get yieldDue(): boolean {
    return this.#yieldDue;
  }

  /** The deferred yield, once the caller has waited for the device: offers the token, charged what was used. */
  yieldNow(): void {
    if (!this.#yieldDue) return;
    this.#yieldDue = false;
    this.#yieldAt();
  }

  /** Whether a yield now could hand the token over (strict mode waits for the GPU only then). */
  get othersWaiting(): boolean {
    return this.#client.othersWaiting;
  }

  /**
   * The deferred yield with nobody to hand over to: charged and a new quantum started, never handed over, so
   * a session that skipped waiting for the GPU cannot pass the token on with its work still running.
   */
  renewNow(): void {
    if (!this.#yieldDue) return;
    this.#yieldDue = false;
    this.#client.renew(this.#costOf(this.#usedMs));
    this.#usedMs = 0;
    this.#quantumMs = this.#client.quantumMs;
  }

  #yieldAt(): void {
    this.#countHeld();
    this.#client.yield(this.#costOf(this.#usedMs));
    this.#heldSinceMs = performance.now();
    this.#usedMs = 0;
    this.#quantumMs = this.#client.quantumMs;
    this.#markMs = performance.now(); // time spent waiting for the token back is not occupancy
  }

  /**
   * After the last kernel of a unit of work. A session with more work on its way (`backlogged`) keeps the
   * token for what is left of its quantum; with the quantum used up it offers the token: it goes to a waiter
   * only if the policy prefers that waiter to this session, and otherwise stays for the next unit (a release
   * would hand it over unconditionally and turn sharing into taking turns per unit, whatever the virtual
   * times say). Either way the unit's use is charged now. Without more work the token goes back. Strict mode
   * calls this only once the GPU has finished the work. `lastCostMs` is charged here,
   * not through `charge`: a unit that cannot pause (an ONNX run) would otherwise yield at its boundary, wait
   * for the token to come back, and only then offer it again.
   */
  end(backlogged = false, lastCostMs = 0): void {
    this.#finish(backlogged, lastCostMs, false);
  }

  /**
   * A token kept after a unit for the next one goes back unused (the next unit has not come in time). With
   * `stillBacklogged` the session has more work on the way, so it keeps its place for when that arrives.
   */
  handBack(stillBacklogged: boolean): void {
    this.#finish(false, 0, stillBacklogged);
  }

  #finish(backlogged: boolean, lastCostMs: number, stillBacklogged: boolean): void {
    this.#countHeld();
    this.#inUnit = false;
    const yieldWasDue = this.#yieldDue;
    this.#yieldDue = false;
    this.#usedMs += lastCostMs;
    if (lastCostMs > this.#longestKernelMs) this.#longestKernelMs = lastCostMs;
    const holding = this.#client.holding;
    // Not holding (a token already given back): nothing is charged, and CPU time since waits for the next.
    const costMs = holding ? this.#costOf(this.#usedMs) : this.#usedMs;
    if (backlogged && holding && !yieldWasDue && this.#usedMs < this.#quantumMs) {
      // The quantum is not used up: the next unit goes on with what is left of it, and the token is offered
      // at its boundary. Offered at every unit's end too, it changed hands whenever the charges happened to
      // favour a waiter, up to once per unit instead of once per quantum.
      this.#client.renew(costMs);
      this.#quantumMs -= this.#usedMs;
      this.#usedMs = 0;
      return;
    }
    if (backlogged) this.#client.offer(costMs);
    else this.#client.release(costMs, stillBacklogged);
    this.#usedMs = 0;
    this.#quantumMs = this.#client.quantumMs;
  }

  get longestKernelMs(): number {
    return this.#longestKernelMs;
  }
}
