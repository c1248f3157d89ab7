/**
 * batching: one zoo model under many closed-loop clients, served with and without dynamic batching
 * (coalescing queued requests up to maxBatch within batchWindowUs). Throughput and latency percentiles,
 * the two configurations interleaved over repetitions.
 */
import { createServer } from '../src/server/server.js';
import type { NamedTensors } from '../src/protocol/tensors.js';
import { startProgress } from './lib/progress.js';
import { benchMeta, table, writeResults, type BenchOptions } from './lib/report.js';
import { median, percentile, round } from './lib/stats.js';

interface Config {
  label: string;
  maxBatch: number;
  batchWindowUs: number;
}

const configs: Config[] = [
  { label: 'no batching', maxBatch: 1, batchWindowUs: 0 },
  { label: 'maxBatch 8, window 2 ms', maxBatch: 8, batchWindowUs: 2000 },
];

const model = { zoo: 'mobilenet_v2', inputSize: 64, seed: 1 };

async function measure(config: Config, clients: number, durationMs: number) {
  const server = await createServer({
    backend: 'wasm',
    sessions: [{ name: 'm', model, maxBatch: config.maxBatch, batchWindowUs: config.batchWindowUs, maxQueue: clients }],
  });
  try {
    const inputName = server.signature('m').inputs[0].name;
    const request = (): NamedTensors => ({
      [inputName]: { dtype: 'float32', shape: [1, 64, 64, 3], data: new Float32Array(64 * 64 * 3).fill(0.5) },
    });
    for (let i = 0; i < 5; i++) await server.infer('m', request());
    const latencies: number[] = [];
    const before = server.stats().sessions[0];
    const start = performance.now();
    await Promise.all(
      Array.from({ length: clients }, async () => {
        while (performance.now() - start < durationMs) {
          const t0 = performance.now();
          await server.infer('m', request());
          latencies.push(performance.now() - t0);
        }
      }),
    );
    const seconds = (performance.now() - start) / 1000;
    const after = server.stats().sessions[0];
    return {
      throughputPerSec: latencies.length / seconds,
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      meanBatch: (after.inferences - before.inferences) / Math.max(1, after.batches - before.batches),
    };
  } finally {
    await server.close();
  }
}

export async function run(options: BenchOptions) {
  const { quick } = options;
  const meta = await benchMeta('batching', options);
  const reps = quick ? 1 : 3;
  const clients = 16;
  const durationMs = quick ? 5000 : 15000;
  const samples = new Map(configs.map((c) => [c.label, [] as Awaited<ReturnType<typeof measure>>[]]));
  const progress = startProgress('batching', reps * configs.length);
  for (let rep = 0; rep < reps; rep++) {
    for (const config of rep % 2 === 0 ? configs : [...configs].reverse()) {
      progress.label(`rep ${rep + 1} ${config.label}`);
      const result = await measure(config, clients, durationMs);
      samples.get(config.label)!.push(result);
      progress.tick();
      progress.log(
        `rep ${rep + 1} ${config.label}: ${round(result.throughputPerSec, 1)}/s, p50 ${round(result.p50Ms, 1)} ms, p99 ${round(result.p99Ms, 1)} ms, mean batch ${round(result.meanBatch, 2)}`,
      );
    }
  }
  progress.stop();
  const rows = configs.map((config) => {
    const runs = samples.get(config.label)!;
    return {
      config: config.label,
      maxBatch: config.maxBatch,
      batchWindowUs: config.batchWindowUs,
      throughputPerSec: round(median(runs.map((r) => r.throughputPerSec)), 1),
      p50Ms: round(median(runs.map((r) => r.p50Ms)), 1),
      p99Ms: round(median(runs.map((r) => r.p99Ms)), 1),
      meanBatch: round(median(runs.map((r) => r.meanBatch)), 2),
    };
  });
  const markdown = [
    `${model.zoo}@${model.inputSize} on wasm, ${clients} closed-loop clients, ${durationMs / 1000} s per run, median of ${reps}.`,
    '',
    table(
      ['config', 'throughputPerSec', 'p50Ms', 'p99Ms', 'meanBatch'],
      rows.map((r) => [r.config, r.throughputPerSec, r.p50Ms, r.p99Ms, r.meanBatch]),
    ),
  ].join('\n');
  console.log(`wrote ${writeResults(meta, { model, clients, durationMs, repetitions: reps, rows }, markdown)}`);
}
