/**
 * The bench scenarios, by name: each module exports `run(options)` and writes bench/results/<name>.json
 * (bench/results/webgpu/ for `--backend webgpu`). `backends` lists where a scenario means something: the
 * handoff is CPU-side by construction, http and batching measure the server; synthetic has a GPU variant
 * (compute dispatches of calibrated GPU time) beside its CPU spin.
 */
import type { BenchBackend, BenchOptions } from './lib/report.js';

export type { BenchBackend, BenchOptions } from './lib/report.js';

interface Scenario {
  load: () => Promise<{ run(options: BenchOptions): Promise<void> }>;
  backends: readonly BenchBackend[];
}

const both = ['wasm', 'webgpu'] as const;
const wasmOnly = ['wasm'] as const;

export const scenarios: Record<string, Scenario> = {
  handoff: { load: () => import('./handoff.js'), backends: wasmOnly },
  synthetic: { load: () => import('./synthetic.js'), backends: both },
  gate: { load: () => import('./gate.js'), backends: both },
  batching: { load: () => import('./batching.js'), backends: wasmOnly },
  fairness: { load: () => import('./fairness.js'), backends: both },
  weighted: { load: async () => ({ run: (await import('./fairness.js')).runWeighted }), backends: both },
  'fairness-predicted': { load: async () => ({ run: (await import('./fairness.js')).runPredicted }), backends: both },
  priority: { load: () => import('./priority.js'), backends: both },
  quantum: { load: () => import('./quantum.js'), backends: both },
  tokens: { load: () => import('./tokens.js'), backends: both },
  timeline: { load: () => import('./timeline.js'), backends: both },
  soak: { load: () => import('./soak.js'), backends: both },
  'profile-accuracy': { load: () => import('./profile-accuracy.js'), backends: wasmOnly },
  charts: { load: () => import('./charts.js'), backends: both },
  http: { load: () => import('./http.js'), backends: wasmOnly },
  grpc: { load: () => import('./grpc.js'), backends: wasmOnly },
  'input-copy': { load: () => import('./input-copy.js'), backends: wasmOnly },
  'json-body': { load: () => import('./json-body.js'), backends: wasmOnly },
  scale: { load: () => import('./scale.js'), backends: wasmOnly },
  instances: { load: () => import('./instances.js'), backends: wasmOnly },
  latency: { load: () => import('./latency.js'), backends: wasmOnly },
  slo: { load: () => import('./slo.js'), backends: wasmOnly },
  engines: { load: () => import('./engines.js'), backends: wasmOnly },
  'demo-synthetic': { load: async () => ({ run: (await import('./demo-synthetic.js')).run }), backends: wasmOnly },
};
