/**
 * http: a bounded load test of the HTTP front on loopback. `olympian serve` runs in a child process (so the
 * clients do not share its event loop) with three small zoo models under the weighted policy, weights 1:2:3;
 * a pool of closed-loop clients (Node's fetch) posts TF-Serving predict requests for 30 s (quick: 8 s) after
 * a warm-up. Reported: throughput, client-side p50/p99 per model, errors split into backpressure (429, 503)
 * and the rest (which must be zero), and each model's share of the device read from /metrics (charged
 * device time over the window; measured on wasm) against the policy's target.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startProgress } from './lib/progress.js';
import { startServeChild } from './lib/serve-child.js';
import { benchMeta, table, writeResults, type BenchOptions } from './lib/report.js';
import { jainIndex, normalise, percentile, round, weightedMaxErrorPct } from './lib/stats.js';

interface ModelSpec {
  name: string;
  zoo: string;
  inputSize: number;
  weight: number;
  clients: number;
}

/** Roughly 10, 16 and 22 ms per batch-1 inference on wasm on the 2-core dev machine. */
const models: ModelSpec[] = [
  { name: 'mobilenet32', zoo: 'mobilenet_v2', inputSize: 32, weight: 1, clients: 4 },
  { name: 'mobilenet64', zoo: 'mobilenet_v2', inputSize: 64, weight: 2, clients: 4 },
  { name: 'googlenet64', zoo: 'googlenet', inputSize: 64, weight: 3, clients: 4 },
];

interface ClientLog {
  latenciesUs: number[];
  statuses: Map<number, number>;
  recording: boolean;
}

const backpressure = new Set([429, 503]);

function imageBody(size: number): string {
  let i = 0;
  const row = () => Array.from({ length: size }, () => [Math.sin(i++), Math.sin(i++), Math.sin(i++)]);
  return JSON.stringify({ instances: [Array.from({ length: size }, row)] });
}

/** A closed-loop client: one request at a time until `stop()`. */
async function client(url: string, body: string, log: ClientLog, running: () => boolean): Promise<void> {
  while (running()) {
    const started = process.hrtime.bigint();
    let status = 0;
    try {
      const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      await response.arrayBuffer();
      status = response.status;
    } catch {
      status = -1; // a transport failure: never backpressure
    }
    if (!log.recording) continue;
    log.statuses.set(status, (log.statuses.get(status) ?? 0) + 1);
    if (status === 200) log.latenciesUs.push(Number(process.hrtime.bigint() - started) / 1000);
  }
}

/** Charged device seconds per model, from the Prometheus text. */
async function chargedS(url: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const out = new Map<string, number>();
  for (const match of text.matchAll(/^olympian_device_charged_seconds_total\{model="([^"]+)"\} ([0-9.e+-]+)$/gm))
    out.set(match[1], Number(match[2]));
  return out;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function run(options: BenchOptions): Promise<void> {
  const { quick } = options;
  const meta = await benchMeta('http', options);
  const durationMs = quick ? 8_000 : 30_000;
  const warmupMs = quick ? 1_500 : 3_000;
  const dir = mkdtempSync(join(tmpdir(), 'olympian-bench-http-'));
  const configPath = join(dir, 'olympian.json');
  writeFileSync(
    configPath,
    JSON.stringify({
      backend: 'wasm',
      tokens: 1,
      policy: 'weighted',
      quantumMs: 1,
      models: models.map((m) => ({
        name: m.name,
        model: { zoo: m.zoo, inputSize: m.inputSize, seed: 1 },
        weight: m.weight,
        maxQueue: 8,
      })),
    }),
  );
  console.log(`http: starting olympian serve with ${models.map((m) => m.name).join(', ')} ...`);
  const { child, url } = await startServeChild(configPath);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let running = true;
  const logs = new Map(
    models.map((m) => [m.name, { latenciesUs: [], statuses: new Map(), recording: false } as ClientLog]),
  );
  try {
    const clients = models.flatMap((m) => {
      const body = imageBody(m.inputSize);
      return Array.from({ length: m.clients }, () =>
        client(`${url}/v1/models/${m.name}:predict`, body, logs.get(m.name)!, () => running),
      );
    });
    const progress = startProgress('http', 2, 'warm-up');
    await sleep(warmupMs);
    progress.tick('measuring');
    const before = await chargedS(url);
    for (const log of logs.values()) log.recording = true;
    const started = performance.now();
    await sleep(durationMs);
    for (const log of logs.values()) log.recording = false;
    progress.tick();
    progress.stop();
    const windowS = (performance.now() - started) / 1000;
    const after = await chargedS(url);
    running = false;
    await Promise.all(clients);

    const charged = models.map((m) => (after.get(m.name) ?? 0) - (before.get(m.name) ?? 0));
    const shares = normalise(charged);
    const targets = normalise(models.map((m) => m.weight));
    const rows = models.map((m, i) => {
      const log = logs.get(m.name)!;
      const count = (pick: (status: number) => boolean) =>
        [...log.statuses].filter(([s]) => pick(s)).reduce((a, [, n]) => a + n, 0);
      return {
        model: m.name,
        source: `zoo:${m.zoo}@${m.inputSize}`,
        weight: m.weight,
        clients: m.clients,
        requests: log.latenciesUs.length,
        throughputRps: round(log.latenciesUs.length / windowS, 1),
        p50Us: Math.round(percentile(log.latenciesUs, 50)),
        p99Us: Math.round(percentile(log.latenciesUs, 99)),
        errorsBackpressure: count((s) => backpressure.has(s)),
        errorsOther: count((s) => s !== 200 && !backpressure.has(s)),
        chargedS: round(charged[i], 3),
        share: round(shares[i], 4),
        targetShare: round(targets[i], 4),
      };
    });
    const all = [...logs.values()].flatMap((log) => log.latenciesUs);
    const result = {
      config: {
        durationS: durationMs / 1000,
        warmupS: warmupMs / 1000,
        policy: 'weighted',
        tokens: 1,
        backend: 'wasm',
        clients: models.reduce((a, m) => a + m.clients, 0),
        bodies: 'TF-Serving row format, JSON',
      },
      models: rows,
      total: {
        requests: all.length,
        throughputRps: round(all.length / windowS, 1),
        p50Us: Math.round(percentile(all, 50)),
        p99Us: Math.round(percentile(all, 99)),
        errorsBackpressure: rows.reduce((a, r) => a + r.errorsBackpressure, 0),
        errorsOther: rows.reduce((a, r) => a + r.errorsOther, 0),
      },
      weightedMaxErrorPct: round(weightedMaxErrorPct(shares, targets), 1),
      jainIndex: round(jainIndex(shares, targets), 4),
    };
    const markdown = [
      `${result.config.clients} closed-loop clients over loopback for ${result.config.durationS} s (after ${result.config.warmupS} s warm-up); \`olympian serve\` in a child process, wasm, K = 1, weighted policy.`,
      'Shares are charged device time from `/metrics` over the window (measured accounting on wasm), against weight / total weight.',
      "That is the arbiter's own accounting, so agreement shows the policy holds end to end through HTTP, not an independent measure of",
      "device time (thread CPU time, as the synthetic and demo benches use); latencies include each request's wait behind the other clients.",
      '',
      table(
        [
          'model',
          'source',
          'weight',
          'clients',
          'requests',
          'req/s',
          'p50 µs',
          'p99 µs',
          'backpressure',
          'other errors',
          'share',
          'target',
        ],
        rows.map((r) => [
          r.model,
          r.source,
          r.weight,
          r.clients,
          r.requests,
          r.throughputRps,
          r.p50Us,
          r.p99Us,
          r.errorsBackpressure,
          r.errorsOther,
          r.share,
          r.targetShare,
        ]),
      ),
      '',
      `Total ${result.total.requests} requests, ${result.total.throughputRps} req/s, p50 ${result.total.p50Us} µs, p99 ${result.total.p99Us} µs; errors: ${result.total.errorsBackpressure} backpressure, ${result.total.errorsOther} other.`,
      `weightedMaxErrorPct ${result.weightedMaxErrorPct}, jainIndex (share / target) ${result.jainIndex}.`,
    ].join('\n');
    const path = writeResults(meta, result, markdown);
    console.log(markdown);
    console.log(`\nwrote ${path}`);
    if (result.total.errorsOther > 0) {
      console.error(`http: ${result.total.errorsOther} errors that are not backpressure`);
      process.exitCode = 1;
    }
  } finally {
    running = false;
    child.kill('SIGTERM');
    const code = await Promise.race([exited, sleep(30_000).then(() => 'timeout' as const)]);
    if (code === 'timeout') child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}
