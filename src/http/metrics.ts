/**
 * Prometheus metrics on a Registry of their own (never prom-client's global one, so two servers in one
 * process, or an embedding application's own metrics, do not collide).
 *
 * Request outcomes and latency are counted here as requests finish. Everything else is read from
 * `server.stats()` once per scrape: gauges are set, and the server's monotonic figures (grants, waits,
 * charged time, handoffs) are added to counters as deltas per session, so a model's counters keep
 * climbing across a version switch although each new session starts from zero.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { ErrorCode } from '../protocol/errors.js';
import type { Server, ServerSessionStats } from '../server/server.js';
import { countDeadlines } from './deadline-metrics.js';
import type { ModelRegistry } from './registry.js';

/** Seconds: from a tiny model on a fast device to a big one behind a long queue. */
const latencyBucketsS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

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
  readonly #server: Server;
  readonly #models: ModelRegistry;
  readonly #last = new Map<string, Record<Monotonic, number>>();
  #lastHandoffs = 0;
  #lastTokenIdleMs = 0;
  #lastTokenBusyMs = 0;

  readonly #requests = new Counter({
    name: 'olympian_requests_total',
    help: 'Inference requests by model, outcome (ok or an error code) and protocol (http or grpc)',
    labelNames: ['model', 'outcome', 'protocol'],
    registers: [this.registry],
  });
  readonly #overBudget = new Counter({
    name: 'olympian_requests_over_budget_total',
    help: 'Inference requests refused because the model was over its device-time budget (QUOTA_EXCEEDED)',
    labelNames: ['model'],
    registers: [this.registry],
  });
  readonly #budgetBalance = new Gauge({
    name: 'olympian_budget_balance_seconds',
    help: "Balance of the model's device-time budget (negative: in debt, refusing requests); absent without a budget, seconds",
    labelNames: ['model'],
    registers: [this.registry],
  });
  readonly #latency = new Histogram({
    name: 'olympian_request_duration_seconds',
    help: 'Successful inference requests, from the handler to the answer, by protocol (http or grpc), seconds',
    labelNames: ['model', 'protocol'],
    buckets: latencyBucketsS,
    registers: [this.registry],
  });
  readonly #queueDepth = new Gauge({
    name: 'olympian_queue_depth',
    help: 'Requests waiting in the session queue',
    labelNames: ['model'],
    registers: [this.registry],
  });
  readonly #share = new Gauge({
    name: 'olympian_device_share',
    help: 'Share of the device charged to the served session since it started (0..1)',
    labelNames: ['model'],
    registers: [this.registry],
  });
  readonly #windowShare = new Gauge({
    name: 'olympian_device_share_window',
    help: 'Share of the device over the arbiter window (exponentially decayed, 0..1)',
    labelNames: ['model'],
    registers: [this.registry],
  });
  readonly #weight = new Gauge({
    name: 'olympian_weight',
    help: 'Weight the arbiter gives the model',
    labelNames: ['model'],
    registers: [this.registry],
  });
  readonly #priority = new Gauge({
    name: 'olympian_priority',
    help: 'Priority class of the model',
    labelNames: ['model'],
    registers: [this.registry],
  });
  readonly #version = new Gauge({
    name: 'olympian_model_version',
    help: 'Version being served (0: none)',
    labelNames: ['model'],
    registers: [this.registry],
  });
  readonly #waitMax = new Gauge({
    name: 'olympian_token_wait_max_seconds',
    help: 'Longest wait for the device token by the served session, seconds',
    labelNames: ['model'],
    registers: [this.registry],
  });
  readonly #grants = new Counter({
    name: 'olympian_token_grants_total',
    help: 'Device tokens granted',
    labelNames: ['model'],
    registers: [this.registry],
  });
  readonly #waits = new Counter({
    name: 'olympian_token_waits_total',
    help: 'Times a session had to wait for the device token',
    labelNames: ['model'],
    registers: [this.registry],
  });
  readonly #waitTime = new Counter({
    name: 'olympian_token_wait_seconds_total',
    help: 'Time spent waiting for the device token, seconds',
    labelNames: ['model'],
    registers: [this.registry],
  });
  readonly #charged = new Counter({
    name: 'olympian_device_charged_seconds_total',
    help: 'Device time charged by the arbiter, seconds',
    labelNames: ['model'],
    registers: [this.registry],
  });
  readonly #inferences = new Counter({
    name: 'olympian_inferences_total',
    help: 'Requests the model ran (coalesced ones count each)',
    labelNames: ['model'],
    registers: [this.registry],
  });
  readonly #restarts = new Counter({
    name: 'olympian_session_restarts_total',
    help: 'Session threads restarted after a crash',
    labelNames: ['model'],
    registers: [this.registry],
  });
  readonly #gpuTime = new Counter({
    name: 'olympian_gpu_seconds_total',
    help: "GPU time of the model's dispatches from timestamp queries (webgpu sessions with gpuTiming; else 0), seconds",
    labelNames: ['model'],
    registers: [this.registry],
  });
  readonly #gpuWaits = new Counter({
    name: 'olympian_gpu_waits_total',
    help: 'Waits for the GPU to finish before the token went on (webgpu strict mode)',
    labelNames: ['model'],
    registers: [this.registry],
  });
  readonly #gpuWaitTime = new Counter({
    name: 'olympian_gpu_wait_seconds_total',
    help: 'Time spent in those waits, seconds',
    labelNames: ['model'],
    registers: [this.registry],
  });
  readonly #handoffs = new Counter({
    name: 'olympian_handoffs_total',
    help: 'Token handoffs between sessions',
    registers: [this.registry],
  });
  readonly #tokenIdle = new Counter({
    name: 'olympian_token_idle_seconds_total',
    help: 'Token time that work waiting could have used but no session kept busy (dispatch and wake-up latency, tokens kept between requests), seconds',
    registers: [this.registry],
  });
  readonly #tokenBusy = new Counter({
    name: 'olympian_token_busy_seconds_total',
    help: 'Token time sessions held inside units of work, seconds',
    registers: [this.registry],
  });
  readonly #policy = new Gauge({
    name: 'olympian_policy_info',
    help: 'The arbiter policy in force (value 1)',
    labelNames: ['policy'],
    registers: [this.registry],
  });
  readonly #quantum = new Gauge({
    name: 'olympian_quantum_seconds',
    help: 'The arbiter quantum, seconds',
    registers: [this.registry],
  });
  readonly #instanceQueueDepth = new Gauge({
    name: 'olympian_instance_queue_depth',
    help: 'Requests waiting or running in one instance (session thread) of the model',
    labelNames: ['model', 'instance'],
    registers: [this.registry],
  });
  readonly #instanceState = new Gauge({
    name: 'olympian_instance_ready',
    help: 'Whether the instance serves (1) or is starting, restarting or closing (0)',
    labelNames: ['model', 'instance'],
    registers: [this.registry],
  });
  readonly #tokens = new Gauge({
    name: 'olympian_tokens',
    help: 'Device tokens (sessions that may run at once)',
    registers: [this.registry],
  });

  constructor(server: Server, models: ModelRegistry, { processMetrics = true }: { processMetrics?: boolean } = {}) {
    this.#server = server;
    this.#models = models;
    if (processMetrics) collectDefaultMetrics({ register: this.registry });
    countDeadlines(server, models, this.registry);
  }

  /** One finished inference request; only known models are labelled, so a scan of made-up names cannot grow the series. */
  observe(model: string, outcome: string, seconds: number, protocol: RequestProtocol = 'http'): void {
    if (!this.#models.has(model)) return;
    this.#requests.inc({ model, outcome, protocol });
    if (outcome === ErrorCode.QUOTA_EXCEEDED) this.#overBudget.inc({ model });
    if (outcome === 'ok') this.#latency.observe({ model, protocol }, seconds);
  }

  /** The exposition text, with the server's figures read now. */
  async render(): Promise<{ contentType: string; body: string }> {
    this.#refresh();
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  #refresh(): void {
    const stats = this.#server.stats();
    this.#policy.reset();
    this.#policy.set({ policy: stats.policy }, 1);
    this.#quantum.set(stats.quantumMs / 1000);
    this.#tokens.set(stats.tokens);
    this.#handoffs.inc(Math.max(0, stats.handoffs - this.#lastHandoffs));
    this.#lastHandoffs = stats.handoffs;
    this.#tokenIdle.inc(Math.max(0, stats.tokenIdleMs - this.#lastTokenIdleMs) / 1000);
    this.#tokenBusy.inc(Math.max(0, stats.tokenBusyMs - this.#lastTokenBusyMs) / 1000);
    this.#lastTokenIdleMs = stats.tokenIdleMs;
    this.#lastTokenBusyMs = stats.tokenBusyMs;
    const bySession = new Map(stats.sessions.map((row) => [row.name, row]));
    for (const model of this.#models.names) {
      const served = this.#models.served(model);
      const row = served ? bySession.get(served.session) : undefined;
      const { weight, priority } = this.#models.weights(model);
      this.#weight.set({ model }, weight);
      this.#priority.set({ model }, priority);
      this.#version.set({ model }, served ? Number(served.version) : 0);
      this.#queueDepth.set({ model }, row?.queueDepth ?? 0);
      this.#share.set({ model }, row?.share ?? 0);
      this.#windowShare.set({ model }, row?.decayedShare ?? 0);
      this.#waitMax.set({ model }, (row?.waitMaxMs ?? 0) / 1000);
      if (row?.budgetBalanceMs == null) this.#budgetBalance.remove({ model });
      else this.#budgetBalance.set({ model }, row.budgetBalanceMs / 1000);
    }
    // Instances of the served versions only: a version switch leaves the old version's series behind otherwise.
    this.#instanceQueueDepth.reset();
    this.#instanceState.reset();
    for (const model of this.#models.names) {
      const served = this.#models.served(model);
      const row = served ? bySession.get(served.session) : undefined;
      for (const instance of row?.instances ?? []) {
        this.#instanceQueueDepth.set({ model, instance: String(instance.instance) }, instance.queueDepth);
        this.#instanceState.set({ model, instance: String(instance.instance) }, instance.state === 'ready' ? 1 : 0);
      }
    }
    for (const row of stats.sessions) this.#addDeltas(row);
    // Sessions gone (old versions): forget them. What they did since the last scrape is not counted.
    for (const name of this.#last.keys()) if (!bySession.has(name)) this.#last.delete(name);
  }

  #addDeltas(row: ServerSessionStats): void {
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
    this.#grants.inc({ model }, delta('grants'));
    this.#waits.inc({ model }, delta('waits'));
    this.#waitTime.inc({ model }, delta('waitMs') / 1000);
    this.#charged.inc({ model }, delta('chargedMs') / 1000);
    this.#inferences.inc({ model }, delta('inferences'));
    this.#restarts.inc({ model }, delta('restarts'));
    this.#gpuTime.inc({ model }, delta('gpuMs') / 1000);
    this.#gpuWaits.inc({ model }, delta('gpuWaits'));
    this.#gpuWaitTime.inc({ model }, delta('gpuWaitMs') / 1000);
    this.#last.set(row.name, now);
  }
}
