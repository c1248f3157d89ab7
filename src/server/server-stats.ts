/**
 * The server's stats: the arbiter's figures, how requests with deadlines are admitted, token time demanded,
 * used and left idle, the memory budget, and one row per model. Apart from server.ts so that the shape
 * dashboards and the admin API read, and where each figure comes from, sit in one place.
 */
import type { DeviceArbiter } from '../arbiter/arbiter.js';
import type { PolicyName } from '../arbiter/layout.js';
import type { AdmissionMode } from '../workers/service-time.js';
import type { ResolvedConfig } from './config.js';
import type { ServerSessionStats } from './model.js';
import type { ModelSet } from './model-set.js';
import type { TokenDemand } from './token-demand.js';

export interface ServerStats {
  device: ResolvedConfig['device'];
  backend: ResolvedConfig['backend'];
  policy: PolicyName;
  /** How requests with deadlines are admitted now (`predicted` by default under `deadline`). */
  admission: AdmissionMode;
  quantumMs: number;
  /** `deadline`: how many quanta of its weighted share a backlogged model may fall behind. */
  lagQuanta: number;
  tokens: number;
  handoffs: number;
  /**
   * Token time the work could have used (at each moment min(K, instances with requests waiting or running)),
   * what sessions held tokens for inside units of work, and the difference: time tokens stood idle while work
   * waited (dispatch and wake-up latency, a token kept between requests), ms since the server started.
   */
  tokenDemandMs: number;
  tokenBusyMs: number;
  tokenIdleMs: number;
  memoryBudgetMB: number;
  sessions: ServerSessionStats[];
}

/** The figures now, read from the arbiter's shared memory and each session's: nothing waits behind an inference. */
export function serverStats(
  arbiter: DeviceArbiter,
  models: ModelSet,
  server: { config: ResolvedConfig; admission: AdmissionMode; demand: TokenDemand },
): ServerStats {
  const figures = arbiter.stats();
  const sessions = models.stats(figures);
  const { config } = server;
  const tokenDemandMs = server.demand.ms;
  const tokenBusyMs = models.busyMsOfRemoved + sessions.reduce((sum, row) => sum + row.busyMs, 0);
  return {
    device: config.device,
    backend: config.backend,
    policy: figures.policy,
    admission: server.admission,
    quantumMs: figures.quantumMs,
    lagQuanta: arbiter.lagQuanta,
    tokens: figures.tokens,
    handoffs: figures.handoffs,
    tokenDemandMs,
    tokenBusyMs,
    tokenIdleMs: Math.max(0, tokenDemandMs - tokenBusyMs),
    memoryBudgetMB: config.memoryBudgetMB,
    sessions,
  };
}
