/**
 * scale: what a session costs in memory and start-up time. One small model (mobilenet_v2@64, 14 MB of
 * weights) served by 1, 4, 8 and 16 sessions at once; each count in a fresh process (its RSS is that count's
 * alone), warmed and then run for a few rounds of inference, so activations and the allocators' working sets
 * are in. The product is measured as a user runs it: the build in dist/ (made first), not the TypeScript
 * sources, whose loader (tsx) adds a hooks thread to every worker.
 *
 * summary.overheadMbPerSession = the slope of RSS over the session count − the model's weights, MiB.
 */
import { execFileSync, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startProgress } from './lib/progress.js';
import { benchMeta, table, writeResults, type BenchOptions } from './lib/report.js';
import { median, round } from './lib/stats.js';

const repoRoot = fileURLToPath(new URL('../', import.meta.url));
const model = { zoo: 'mobilenet_v2', inputSize: 64, seed: 1 };

interface Sample {
  sessions: number;
  rssMb: number;
  baseRssMb: number;
  warmupS: number;
  weightsMb: number;
}

/** The child: serves `count` sessions from dist/, runs a few rounds, reports RSS. */
const childSource = `
const { createServer } = await import(process.argv[1]);
const count = Number(process.argv[2]);
const model = JSON.parse(process.argv[3]);
const mib = () => process.memoryUsage().rss / 2 ** 20;
const baseRssMb = mib();
const started = performance.now();
const server = await createServer({ backend: 'wasm', sessions: Array.from({ length: count }, (_, i) => ({ name: 'm' + i, model })) });
const warmupS = (performance.now() - started) / 1000;
const name = server.signature('m0').inputs[0].name;
const size = model.inputSize;
for (let round = 0; round < 20; round++) {
  await Promise.all(Array.from({ length: count }, (_, i) =>
    server.infer('m' + i, { [name]: { dtype: 'float32', shape: [1, size, size, 3], data: new Float32Array(size * size * 3).fill(0.5) } })));
}
await new Promise((resolve) => setTimeout(resolve, 500));
const rssMb = mib();
const weightsMb = server.sessionInfo('m0').weightsMb;
await server.close();
console.log(JSON.stringify({ sessions: count, rssMb, baseRssMb, warmupS, weightsMb }));
`;

function measure(count: number): Promise<Sample> {
  const entry = new URL('../dist/src/server/server.js', import.meta.url).href;
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--input-type=module', '-e', childSource, entry, String(count), JSON.stringify(model)],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.on('exit', (code) => {
      const line = out.trim().split('\n').pop() ?? '';
      if (code !== 0 || !line.startsWith('{'))
        reject(new Error(`the scale child for ${count} sessions exited ${code}: ${out}`));
      else resolve(JSON.parse(line) as Sample);
    });
  });
}

/** Least-squares slope of y over x. */
function slope(xs: number[], ys: number[]): number {
  const mx = xs.reduce((a, b) => a + b, 0) / xs.length;
  const my = ys.reduce((a, b) => a + b, 0) / ys.length;
  const num = xs.reduce((sum, x, i) => sum + (x - mx) * (ys[i] - my), 0);
  const den = xs.reduce((sum, x) => sum + (x - mx) ** 2, 0);
  return num / den;
}

export async function run(options: BenchOptions) {
  const { quick } = options;
  const meta = await benchMeta('scale', options);
  execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: repoRoot, stdio: 'inherit' });
  const counts = quick ? [1, 4] : [1, 4, 8, 16];
  const reps = quick ? 1 : 2;
  const samples = new Map(counts.map((count) => [count, [] as Sample[]]));
  const progress = startProgress('scale', counts.length * reps);
  for (let rep = 0; rep < reps; rep++) {
    for (const count of rep % 2 === 0 ? counts : [...counts].reverse()) {
      progress.label(`rep ${rep + 1}, ${count} sessions`);
      const sample = await measure(count);
      samples.get(count)!.push(sample);
      progress.tick();
      progress.log(
        `rep ${rep + 1}: ${count} sessions → RSS ${round(sample.rssMb, 0)} MiB, warm in ${round(sample.warmupS, 1)} s`,
      );
    }
  }
  progress.stop();
  const rows = counts.map((count) => {
    const runs = samples.get(count)!;
    return {
      sessions: count,
      rssMb: round(median(runs.map((r) => r.rssMb)), 1),
      rssSpreadMb: round(Math.max(...runs.map((r) => r.rssMb)) - Math.min(...runs.map((r) => r.rssMb)), 1),
      baseRssMb: round(median(runs.map((r) => r.baseRssMb)), 1),
      warmupS: round(median(runs.map((r) => r.warmupS)), 2),
      warmupSPerSession: round(median(runs.map((r) => r.warmupS / count)), 2),
    };
  });
  const weightsMb = samples.get(counts[0])![0].weightsMb;
  const growthMbPerSession = slope(
    rows.map((r) => r.sessions),
    rows.map((r) => r.rssMb),
  );
  const summary = {
    growthMbPerSession: round(growthMbPerSession, 1),
    weightsMb: round(weightsMb, 1),
    overheadMbPerSession: round(growthMbPerSession - weightsMb, 1),
    rssMbAt16: rows.find((r) => r.sessions === 16)?.rssMb ?? null,
    warmupSAt1: rows[0].warmupS,
  };
  const markdown = [
    `${model.zoo}@${model.inputSize} (${round(weightsMb, 1)} MiB of weights) served by N sessions of the built product (dist/), each count in a fresh process, after 20 rounds of inference; median of ${reps}.`,
    '',
    table(
      ['sessions', 'rssMb', 'rssSpreadMb', 'baseRssMb', 'warmupS', 'warmupSPerSession'],
      rows.map((r) => [r.sessions, r.rssMb, r.rssSpreadMb, r.baseRssMb, r.warmupS, r.warmupSPerSession]),
    ),
    '',
    `RSS grows ${summary.growthMbPerSession} MiB per added session (least squares); less the weights, ${summary.overheadMbPerSession} MiB per session.`,
  ].join('\n');
  console.log(`wrote ${writeResults(meta, { model, counts, repetitions: reps, summary, rows }, markdown)}`);
}
