/**
 * Prometheus metrics on a Registry of their own (never prom-client's global one, so two servers in one
 * process, or an embedding application's own metrics, do not collide).
 *
 * Request outcomes and latency are counted here as requests finish. Everything else is read from
 * `server.stats()` once per scrape: gauges are set, and the server's monotonic figures (grants, waits,
 * charged time, handoffs) are added to counters as deltas per session, so a model's counters keep
 * climbing across a version switch although each new session starts from zero. The series themselves are
 * listed in metric-series.ts.
 */
import { collectDefaultMetrics, Registry } from 'prom-client';
import { ErrorCode } from '../protocol/errors.js';
import type { Server, ServerSessionStats } from '../server/server.js';
import { countDeadlines } from './deadline-metrics.js';
import { createSeries } from './metric-series.js';
import type { ModelRegistry } from './registry.js';

/** The front a request came in by: each is counted apart, on the same series. */
export type RequestProtocol = 'http' | 'grpc';

type Monotonic =
  | 'grants'
  | 'waits'
  | 'waitMs'
  | 'chargedMs'
  | 'inferences'
  | 'restarts'
  | 'gpuMs'
  | 'gpuWaits'
  | 'gpuWaitMs';

export class HttpMetrics {
  readonly registry = new Registry();
  readonly #series = createSeries(this.registry);
  readonly #server: Server;
  readonly #models: ModelRegistry;
  readonly #last = new Map<string, Record<Monotonic, number>>();
  #lastHandoffs = 0;
  #lastTokenIdleMs = 0;
  #lastTokenBusyMs = 0;

  constructor(server: Server, models: ModelRegistry, { processMetrics = true }: { processMetrics?: boolean } = {}) {
    this.#server = server;
    this.#models = models;
    if (processMetrics) collectDefaultMetrics({ register: this.registry });
    countDeadlines(server, models, this.registry);
  }

  /** One finished inference request; only known models are labelled, so a scan of made-up names cannot grow the series. */
  observe(model: string, outcome: string, seconds: number, protocol: RequestProtocol = 'http'): void {
    const series = this.#series;
    if (!this.#models.has(model)) return;
    series.requests.inc({ model, outcome, protocol });
    if (outcome === ErrorCode.QUOTA_EXCEEDED) series.overBudget.inc({ model });
    if (outcome === 'ok') series.latency.observe({ model, protocol }, seconds);
  }

  /** The exposition text, with the server's figures read now. */
  async render(): Promise<{ contentType: string; body: string }> {
    this.#refresh();
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  #refresh(): void {
    const series = this.#series;
    const stats = this.#server.stats();
    series.policy.reset();
    series.policy.set({ policy: stats.policy }, 1);
    series.quantum.set(stats.quantumMs / 1000);
    series.tokens.set(stats.tokens);
    series.handoffs.inc(Math.max(0, stats.handoffs - this.#lastHandoffs));
    this.#lastHandoffs = stats.handoffs;
    series.tokenIdle.inc(Math.max(0, stats.tokenIdleMs - this.#lastTokenIdleMs) / 1000);
    series.tokenBusy.inc(Math.max(0, stats.tokenBusyMs - this.#lastTokenBusyMs) / 1000);
    this.#lastTokenIdleMs = stats.tokenIdleMs;
    this.#lastTokenBusyMs = stats.tokenBusyMs;
    const bySession = new Map(stats.sessions.map((row) => [row.name, row]));
    for (const model of this.#models.names) {
      const served = this.#models.served(model);
      const row = served ? bySession.get(served.session) : undefined;
      const { weight, priority } = this.#models.weights(model);
      series.weight.set({ model }, weight);
      series.priority.set({ model }, priority);
      series.version.set({ model }, served ? Number(served.version) : 0);
      series.queueDepth.set({ model }, row?.queueDepth ?? 0);
      series.share.set({ model }, row?.share ?? 0);
      series.windowShare.set({ model }, row?.decayedShare ?? 0);
      series.waitMax.set({ model }, (row?.waitMaxMs ?? 0) / 1000);
      if (row?.budgetBalanceMs == null) series.budgetBalance.remove({ model });
      else series.budgetBalance.set({ model }, row.budgetBalanceMs / 1000);
    }
    // Instances of the served versions only: a version switch leaves the old version's series behind otherwise.
    series.instanceQueueDepth.reset();
    series.instanceState.reset();
    for (const model of this.#models.names) {
      const served = this.#models.served(model);
      const row = served ? bySession.get(served.session) : undefined;
      for (const instance of row?.instances ?? []) {
        series.instanceQueueDepth.set({ model, instance: String(instance.instance) }, instance.queueDepth);
        series.instanceState.set({ model, instance: String(instance.instance) }, instance.state === 'ready' ? 1 : 0);
      }
    }
    for (const row of stats.sessions) this.#addDeltas(row);
    // Sessions gone (old versions): forget them. What they did since the last scrape is not counted.
    for (const name of this.#last.keys()) if (!bySession.has(name)) this.#last.delete(name);
  }

  #addDeltas(row: ServerSessionStats): void {
    const series = this.#series;
    const model = this.#models.modelOf(row.name);
    if (!this.#models.has(model)) return;
    const now: Record<Monotonic, number> = {
      grants: row.grants,
      waits: row.waits,
      waitMs: row.waitTotalMs,
      chargedMs: row.chargedMs,
      inferences: row.inferences,
      restarts: row.restarts,
      gpuMs: row.gpuMs,
      gpuWaits: row.gpuWaits,
      gpuWaitMs: row.gpuWaitMs,
    };
    const last = this.#last.get(row.name) ?? {
      grants: 0,
      waits: 0,
      waitMs: 0,
      chargedMs: 0,
      inferences: 0,
      restarts: 0,
      gpuMs: 0,
      gpuWaits: 0,
      gpuWaitMs: 0,
    };
    const delta = (key: Monotonic) => Math.max(0, now[key] - last[key]);
    series.grants.inc({ model }, delta('grants'));
    series.waits.inc({ model }, delta('waits'));
    series.waitTime.inc({ model }, delta('waitMs') / 1000);
    series.charged.inc({ model }, delta('chargedMs') / 1000);
    series.inferences.inc({ model }, delta('inferences'));
    series.restarts.inc({ model }, delta('restarts'));
    series.gpuTime.inc({ model }, delta('gpuMs') / 1000);
    series.gpuWaits.inc({ model }, delta('gpuWaits'));
    series.gpuWaitTime.inc({ model }, delta('gpuWaitMs') / 1000);
    this.#last.set(row.name, now);
  }
}
