/** The bench scenarios, by name: each module exports `run({ quick })` and writes bench/results/<name>.json. */
export interface BenchOptions {
  quick: boolean;
}

export const scenarios: Record<string, () => Promise<{ run(options: BenchOptions): Promise<void> }>> = {
  handoff: () => import('./handoff.js'),
  synthetic: () => import('./synthetic.js'),
  gate: () => import('./gate.js'),
  batching: () => import('./batching.js'),
  fairness: () => import('./fairness.js'),
  weighted: async () => ({ run: (await import('./fairness.js')).runWeighted }),
  'fairness-predicted': async () => ({ run: (await import('./fairness.js')).runPredicted }),
  priority: () => import('./priority.js'),
  quantum: () => import('./quantum.js'),
  tokens: () => import('./tokens.js'),
  soak: () => import('./soak.js'),
  'profile-accuracy': () => import('./profile-accuracy.js'),
  charts: () => import('./charts.js'),
  http: () => import('./http.js'),
};
