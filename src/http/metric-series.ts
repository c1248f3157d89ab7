/**
 * Every series the HTTP front keeps besides the deadline ones (deadline-metrics.ts) and prom-client's process
 * metrics: names, help texts, labels and buckets, in the order the exposition lists them. Apart from
 * metrics.ts, which keeps them current, because this is what dashboards and alerts are written against.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** Seconds: from a tiny model on a fast device to a big one behind a long queue. */
const latencyBucketsS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Creates the series on `registry`; registering one twice throws, so once per registry. */
export function createSeries(registry: Registry) {
  return {
    requests: new Counter({
      name: 'olympian_requests_total',
      help: 'Inference requests by model, outcome (ok or an error code) and protocol (http or grpc)',
      labelNames: ['model', 'outcome', 'protocol'],
      registers: [registry],
    }),
    overBudget: new Counter({
      name: 'olympian_requests_over_budget_total',
      help: 'Inference requests refused because the model was over its device-time budget (QUOTA_EXCEEDED)',
      labelNames: ['model'],
      registers: [registry],
    }),
    budgetBalance: new Gauge({
      name: 'olympian_budget_balance_seconds',
      help: "Balance of the model's device-time budget (negative: in debt, refusing requests); absent without a budget, seconds",
      labelNames: ['model'],
      registers: [registry],
    }),
    latency: new Histogram({
      name: 'olympian_request_duration_seconds',
      help: 'Successful inference requests, from the handler to the answer, by protocol (http or grpc), seconds',
      labelNames: ['model', 'protocol'],
      buckets: latencyBucketsS,
      registers: [registry],
    }),
    queueDepth: new Gauge({
      name: 'olympian_queue_depth',
      help: 'Requests waiting in the session queue',
      labelNames: ['model'],
      registers: [registry],
    }),
    share: new Gauge({
      name: 'olympian_device_share',
      help: 'Share of the device charged to the served session since it started (0..1)',
      labelNames: ['model'],
      registers: [registry],
    }),
    windowShare: new Gauge({
      name: 'olympian_device_share_window',
      help: 'Share of the device over the arbiter window (exponentially decayed, 0..1)',
      labelNames: ['model'],
      registers: [registry],
    }),
    weight: new Gauge({
      name: 'olympian_weight',
      help: 'Weight the arbiter gives the model',
      labelNames: ['model'],
      registers: [registry],
    }),
    priority: new Gauge({
      name: 'olympian_priority',
      help: 'Priority class of the model',
      labelNames: ['model'],
      registers: [registry],
    }),
    version: new Gauge({
      name: 'olympian_model_version',
      help: 'Version being served (0: none)',
      labelNames: ['model'],
      registers: [registry],
    }),
    waitMax: new Gauge({
      name: 'olympian_token_wait_max_seconds',
      help: 'Longest wait for the device token by the served session, seconds',
      labelNames: ['model'],
      registers: [registry],
    }),
    grants: new Counter({
      name: 'olympian_token_grants_total',
      help: 'Device tokens granted',
      labelNames: ['model'],
      registers: [registry],
    }),
    waits: new Counter({
      name: 'olympian_token_waits_total',
      help: 'Times a session had to wait for the device token',
      labelNames: ['model'],
      registers: [registry],
    }),
    waitTime: new Counter({
      name: 'olympian_token_wait_seconds_total',
      help: 'Time spent waiting for the device token, seconds',
      labelNames: ['model'],
      registers: [registry],
    }),
    charged: new Counter({
      name: 'olympian_device_charged_seconds_total',
      help: 'Device time charged by the arbiter, seconds',
      labelNames: ['model'],
      registers: [registry],
    }),
    inferences: new Counter({
      name: 'olympian_inferences_total',
      help: 'Requests the model ran (coalesced ones count each)',
      labelNames: ['model'],
      registers: [registry],
    }),
    restarts: new Counter({
      name: 'olympian_session_restarts_total',
      help: 'Session threads restarted after a crash',
      labelNames: ['model'],
      registers: [registry],
    }),
    gpuTime: new Counter({
      name: 'olympian_gpu_seconds_total',
      help: "GPU time of the model's dispatches from timestamp queries (webgpu sessions with gpuTiming; else 0), seconds",
      labelNames: ['model'],
      registers: [registry],
    }),
    gpuWaits: new Counter({
      name: 'olympian_gpu_waits_total',
      help: 'Waits for the GPU to finish before the token went on (webgpu strict mode)',
      labelNames: ['model'],
      registers: [registry],
    }),
    gpuWaitTime: new Counter({
      name: 'olympian_gpu_wait_seconds_total',
      help: 'Time spent in those waits, seconds',
      labelNames: ['model'],
      registers: [registry],
    }),
    handoffs: new Counter({
      name: 'olympian_handoffs_total',
      help: 'Token handoffs between sessions',
      registers: [registry],
    }),
    tokenIdle: new Counter({
      name: 'olympian_token_idle_seconds_total',
      help: 'Token time that work waiting could have used but no session kept busy (dispatch and wake-up latency, tokens kept between requests), seconds',
      registers: [registry],
    }),
    tokenBusy: new Counter({
      name: 'olympian_token_busy_seconds_total',
      help: 'Token time sessions held inside units of work, seconds',
      registers: [registry],
    }),
    policy: new Gauge({
      name: 'olympian_policy_info',
      help: 'The arbiter policy in force (value 1)',
      labelNames: ['policy'],
      registers: [registry],
    }),
    quantum: new Gauge({
      name: 'olympian_quantum_seconds',
      help: 'The arbiter quantum, seconds',
      registers: [registry],
    }),
    instanceQueueDepth: new Gauge({
      name: 'olympian_instance_queue_depth',
      help: 'Requests waiting or running in one instance (session thread) of the model',
      labelNames: ['model', 'instance'],
      registers: [registry],
    }),
    instanceState: new Gauge({
      name: 'olympian_instance_ready',
      help: 'Whether the instance serves (1) or is starting, restarting or closing (0)',
      labelNames: ['model', 'instance'],
      registers: [registry],
    }),
    tokens: new Gauge({
      name: 'olympian_tokens',
      help: 'Device tokens (sessions that may run at once)',
      registers: [registry],
    }),
  };
}
