/**
 * scale: what a session costs in memory and start-up time. One small model (mobilenet_v2@64, 14 MB of
 * weights) served by 1, 4, 8 and 16 sessions at once; each count in a fresh process (its RSS is that count's
 * alone), warmed and then run for a few rounds of inference, so activations and the allocators' working sets
 * are in. The product is measured as a user runs it: the build in dist/ (made first), not the TypeScript
 * sources, whose loader (tsx) adds a hooks thread to every worker.
 *
 * summary.overheadMbPerSession = the slope of RSS over the session count − the model's weights, MiB.
 *
 * Beside the build, in the same run and interleaved with it: the same build under MALLOC_ARENA_MAX=2 (glibc
 * gives every thread that allocates an arena of its own, which keeps what its thread freed; it can only be set
 * for a whole process, before it starts), and, with SCALE_BASELINE_DIST=<a dist/ directory built from another
 * commit>, that build, for before/after figures.
 */
import { execFileSync, spawn } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
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

interface Variant {
  name: string;
  /** The dist/ directory whose server.js is measured. */
  dist: URL;
  env: Record<string, string>;
}

function variants(): Variant[] {
  const dist = new URL('../dist/', import.meta.url);
  const list: Variant[] = [
    { name: 'current', dist, env: {} },
    { name: 'mallocArenaMax2', dist, env: { MALLOC_ARENA_MAX: '2' } },
  ];
  const baseline = process.env.SCALE_BASELINE_DIST;
  if (baseline) list.push({ name: 'baseline', dist: pathToFileURL(`${baseline.replace(/\/$/, '')}/`), env: {} });
  return list;
}

function measure(count: number, variant: Variant): Promise<Sample> {
  const entry = new URL('src/server/server.js', variant.dist).href;
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--input-type=module', '-e', childSource, entry, String(count), JSON.stringify(model)],
      { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...variant.env } },
    );
    let out = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.on('exit', (code) => {
      const line = out.trim().split('\n').pop() ?? '';
      if (code !== 0 || !line.startsWith('{'))
        reject(new Error(`the scale child (${variant.name}) for ${count} sessions exited ${code}: ${out}`));
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
  const list = variants();
  // samples[variant][rep][i]: counts[i]'s sample in that repetition.
  const samples = list.map(() => Array.from({ length: reps }, () => new Array<Sample>(counts.length)));
  const progress = startProgress('scale', counts.length * reps * list.length);
  for (let rep = 0; rep < reps; rep++) {
    for (const count of rep % 2 === 0 ? counts : [...counts].reverse()) {
      // Every variant at one count back to back, so a change in the machine's load falls on all alike.
      for (const [v, variant] of list.entries()) {
        progress.label(`rep ${rep + 1}, ${variant.name}, ${count} sessions`);
        const sample = await measure(count, variant);
        samples[v][rep][counts.indexOf(count)] = sample;
        progress.tick();
        progress.log(
          `rep ${rep + 1}, ${variant.name}: ${count} sessions → RSS ${round(sample.rssMb, 0)} MiB, warm in ${round(sample.warmupS, 1)} s`,
        );
      }
    }
  }
  progress.stop();
  const weightsMb = samples[0][0][0].weightsMb;
  const rowsOf = (v: number) =>
    counts.map((count, i) => {
      const runs = samples[v].map((rep) => rep[i]);
      return {
        sessions: count,
        rssMb: round(median(runs.map((r) => r.rssMb)), 1),
        rssSpreadMb: round(Math.max(...runs.map((r) => r.rssMb)) - Math.min(...runs.map((r) => r.rssMb)), 1),
        baseRssMb: round(median(runs.map((r) => r.baseRssMb)), 1),
        warmupS: round(median(runs.map((r) => r.warmupS)), 2),
        warmupSPerSession: round(median(runs.map((r) => r.warmupS / count)), 2),
      };
    });
  const overhead = (rssMb: number[]) => slope(counts, rssMb) - weightsMb;
  const figures = list.map((variant, v) => {
    const rows = rowsOf(v);
    const perRep = samples[v].map((rep) => overhead(rep.map((r) => r.rssMb)));
    return {
      variant: variant.name,
      overheadMbPerSession: round(overhead(rows.map((r) => r.rssMb)), 1),
      overheadMbPerSessionMin: round(Math.min(...perRep), 1),
      overheadMbPerSessionMax: round(Math.max(...perRep), 1),
      rows,
    };
  });
  const rows = figures[0].rows;
  const of = (name: string) => figures.find((f) => f.variant === name)?.overheadMbPerSession ?? null;
  const summary = {
    growthMbPerSession: round(
      slope(
        counts,
        rows.map((r) => r.rssMb),
      ),
      1,
    ),
    weightsMb: round(weightsMb, 1),
    overheadMbPerSession: of('current'),
    overheadMbPerSessionMallocArenaMax2: of('mallocArenaMax2'),
    overheadMbPerSessionBaseline: of('baseline'),
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
    '',
    'Interleaved in the same run (beyond the weights, MiB per session; min–max over the repetitions):',
    '',
    table(
      ['variant', 'overheadMbPerSession', 'min', 'max', ...counts.map((c) => `rssMb@${c}`)],
      figures.map((f) => [
        f.variant,
        f.overheadMbPerSession,
        f.overheadMbPerSessionMin,
        f.overheadMbPerSessionMax,
        ...f.rows.map((r) => r.rssMb),
      ]),
    ),
  ].join('\n');
  console.log(
    `wrote ${writeResults(meta, { model, counts, repetitions: reps, summary, rows, variants: figures }, markdown)}`,
  );
}
