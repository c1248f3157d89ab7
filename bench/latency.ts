/**
 * latency: what serving a request costs beyond its model. Each model runs bare (bench/workers/
 * bare-model.worker.ts: loaded and run in one thread, timed inside it) and served (`createServer`, one
 * session, nothing else running, timed at the caller), one request of each in turn so both see the same
 * machine. summary.requestOverheadPct = median over models of (served − bare) / bare, in percent, from p50s.
 */
import type { Worker } from 'node:worker_threads';
import { createServer } from '../src/server/server.js';
import { startProgress } from './lib/progress.js';
import { benchMeta, pinForBackend, table, writeResults, type BenchOptions } from './lib/report.js';
import { spawnBenchWorker } from './lib/spawn-bench-worker.js';
import { median, percentile, round } from './lib/stats.js';
import { nextMessage } from './lib/worker-messages.js';

const models = [
  { zoo: 'mobilenet_v2', inputSize: 64 },
  { zoo: 'googlenet', inputSize: 96 },
  { zoo: 'resnet50', inputSize: 96 },
];

function bareRun(worker: Worker, data: Float32Array): Promise<number> {
  const reply = nextMessage<{ ms: number }>(worker, 'ran');
  worker.postMessage({ type: 'run', data });
  return reply.then((message) => message.ms);
}

export async function run(options: BenchOptions) {
  const { quick } = options;
  pinForBackend(options.backend, '0-1');
  const meta = await benchMeta('latency', options);
  const pairs = quick ? 30 : 200;
  const progress = startProgress('latency', models.length);
  const rows = [];
  for (const model of models) {
    progress.label(`${model.zoo}@${model.inputSize}`);
    const worker = spawnBenchWorker('bare-model.worker.js', { workerData: model });
    const ready = nextMessage(worker, 'ready');
    const server = await createServer({ backend: 'wasm', sessions: [{ name: 'm', model: { ...model, seed: 1 } }] });
    try {
      await ready;
      const name = server.signature('m').inputs[0].name;
      const size = model.inputSize;
      const request = () => new Float32Array(size * size * 3).fill(0.5);
      for (let i = 0; i < 3; i++)
        await server.infer('m', { [name]: { dtype: 'float32', shape: [1, size, size, 3], data: request() } });
      const bare: number[] = [];
      const served: number[] = [];
      for (let i = 0; i < pairs; i++) {
        // Alternate which goes first, so drift within a pair falls on both alike.
        for (const which of i % 2 === 0 ? ['bare', 'served'] : ['served', 'bare']) {
          if (which === 'bare') bare.push(await bareRun(worker, request()));
          else {
            const started = performance.now();
            await server.infer('m', { [name]: { dtype: 'float32', shape: [1, size, size, 3], data: request() } });
            served.push(performance.now() - started);
          }
        }
      }
      const bareP50 = median(bare);
      const servedP50 = median(served);
      rows.push({
        model: `${model.zoo}@${model.inputSize}`,
        pairs,
        bareP50Ms: round(bareP50, 3),
        servedP50Ms: round(servedP50, 3),
        bareP90Ms: round(percentile(bare, 90), 3),
        servedP90Ms: round(percentile(served, 90), 3),
        overheadMs: round(servedP50 - bareP50, 3),
        overheadPct: round(((servedP50 - bareP50) / bareP50) * 100, 2),
      });
      progress.tick();
      progress.log(`${model.zoo}@${model.inputSize}: bare ${round(bareP50, 2)} ms, served ${round(servedP50, 2)} ms`);
    } finally {
      await server.close();
      await worker.terminate();
    }
  }
  progress.stop();
  const summary = {
    requestOverheadPct: round(median(rows.map((r) => r.overheadPct)), 2),
    overheadMsMedian: round(median(rows.map((r) => r.overheadMs)), 3),
  };
  const markdown = [
    `Each model bare (one thread, timed inside it) and served (createServer, one session, timed at the caller), ${pairs} requests of each in turn; wasm, p50s.`,
    '',
    table(
      ['model', 'bareP50Ms', 'servedP50Ms', 'overheadMs', 'overheadPct', 'bareP90Ms', 'servedP90Ms'],
      rows.map((r) => [r.model, r.bareP50Ms, r.servedP50Ms, r.overheadMs, r.overheadPct, r.bareP90Ms, r.servedP90Ms]),
    ),
    '',
    `Median overhead over the models: ${summary.requestOverheadPct}% (${summary.overheadMsMedian} ms).`,
  ].join('\n');
  console.log(`wrote ${writeResults(meta, { summary, rows }, markdown)}`);
}
