/**
 * json-body: what one large JSON request costs the server, to choose limits.jsonBodyBytes. JSON is parsed
 * and turned into typed arrays on the event loop, where every other request (a health probe too) waits.
 *
 * 1. In process, per body size: the product's steps timed apart — bytes to text, JSON.parse, and the
 *    conversion to typed arrays (TF-Serving rows, and KServe's flat `data`) — with the heap they leave.
 * 2. Through `olympian serve` in a child process (a fresh one per size, so its peak RSS is that size's):
 *    a TF-Serving predict whose images do not fit the model (the shape check fails after the conversion,
 *    as a hostile or careless client's would), while the parent probes /v2/health/ready every 10 ms on
 *    its own connection. Reported: the longest probe wait, the server's own event-loop delay from
 *    /metrics, and its RSS (peak and after).
 *
 * Run: `npm run bench -- json-body [--quick]`; writes bench/results/json-body.json and .md ([quick/]).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request, Agent } from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parseV2Request } from '../src/http/kserve.js';
import { parsePredict } from '../src/http/tfserving.js';
import type { ModelSignature } from '../src/protocol/signature.js';
import { startServeChild } from './lib/serve-child.js';
import { benchMeta, table, writeResults, type BenchOptions } from './lib/report.js';
import { median, round } from './lib/stats.js';

const MiB = 2 ** 20;
/** Images of 64×64×3 values of ~19 characters each: ~240 KB of JSON per image. */
const kImageSize = 64;
/** What the health probe must never wait longer than behind one request. */
const kProbeBudgetMs = 250;

const signature: ModelSignature = {
  inputs: [{ name: 'image', dtype: 'float32', shape: [null, kImageSize, kImageSize, 3] }],
  outputs: [{ name: 'logits', dtype: 'float32', shape: [null, 10] }],
};

/** Pixel values as a preprocessing script would write them: 0..1 in steps of 1/255. */
const pixel = (i: number) => ((i * 7919) % 256) / 255;

function imageRows(seed: number): number[][][] {
  let i = seed;
  return Array.from({ length: kImageSize }, () =>
    Array.from({ length: kImageSize }, () => [pixel(i++), pixel(i++), pixel(i++)]),
  );
}

/** A TF-Serving row body of about `bytes` bytes, and how many images it holds. */
function rowBody(bytes: number): { body: Buffer; images: number } {
  const one = JSON.stringify(imageRows(0)).length + 1;
  const images = Math.max(1, Math.round(bytes / one));
  return {
    body: Buffer.from(JSON.stringify({ instances: Array.from({ length: images }, (_, k) => imageRows(k * 12288)) })),
    images,
  };
}

/** The same images as one KServe input with flat `data`. */
function flatBody(images: number): Buffer {
  const data = Array.from({ length: images * kImageSize * kImageSize * 3 }, (_, i) => pixel(i));
  return Buffer.from(
    JSON.stringify({ inputs: [{ name: 'image', shape: [images, kImageSize, kImageSize, 3], datatype: 'FP32', data }] }),
  );
}

/** V8's full GC, reached without --expose-gc on the command line (as the session workers do). */
function gc(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}
const heapMiB = () => process.memoryUsage().heapUsed / MiB;

interface StepRow {
  format: 'tfserving-rows' | 'kserve-flat';
  bodyMiB: number;
  values: number;
  textMs: number;
  parseMs: number;
  convertMs: number;
  blockMs: number;
  /** Heap held while the parsed body and the tensors are alive, above what was there before. */
  heapMiB: number;
}

function timeSteps(format: StepRow['format'], body: Buffer, runs: number): StepRow {
  const samples: Array<
    Omit<StepRow, 'format' | 'bodyMiB' | 'values' | 'heapMiB'> & { heapMiB: number; values: number }
  > = [];
  for (let run = 0; run < runs; run++) {
    gc();
    const heapBefore = heapMiB();
    const t0 = performance.now();
    const text = body.toString('utf8');
    const t1 = performance.now();
    const parsed = JSON.parse(text);
    const t2 = performance.now();
    const inputs = format === 'tfserving-rows' ? parsePredict(parsed).build(signature) : parseV2Request(parsed).inputs;
    const t3 = performance.now();
    const heapHeld = heapMiB() - heapBefore;
    samples.push({
      textMs: t1 - t0,
      parseMs: t2 - t1,
      convertMs: t3 - t2,
      blockMs: t3 - t0,
      heapMiB: heapHeld,
      values: inputs.image.data.length,
    });
  }
  const pick = (key: 'textMs' | 'parseMs' | 'convertMs' | 'blockMs' | 'heapMiB') =>
    round(median(samples.map((s) => s[key])), 1);
  return {
    format,
    bodyMiB: round(body.byteLength / MiB, 2),
    values: samples[0].values,
    textMs: pick('textMs'),
    parseMs: pick('parseMs'),
    convertMs: pick('convertMs'),
    blockMs: pick('blockMs'),
    heapMiB: pick('heapMiB'),
  };
}

/** VmRSS and VmHWM (peak) of a process, MiB. */
function rssMiB(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) / 1024;
  return { rss: round(field('VmRSS'), 1), peak: round(field('VmHWM'), 1) };
}

function send(url: string, path: string, body: Buffer | null, agent: Agent): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}${path}`,
      {
        method: body ? 'POST' : 'GET',
        agent,
        headers: body ? { 'content-type': 'application/json', 'content-length': body.byteLength } : {},
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
      },
    );
    req.on('error', reject);
    req.end(body ?? undefined);
  });
}

/** The longest the event loop was blocked since the last scrape (prom-client resets it on each). */
async function loopLagMaxMs(url: string, agent: Agent): Promise<number> {
  const { text } = await send(url, '/metrics', null, agent);
  return round(Number(/^nodejs_eventloop_lag_max_seconds (\S+)$/m.exec(text)?.[1] ?? NaN) * 1000, 1);
}

interface ServeRow {
  bodyMiB: number;
  status: number;
  requestMs: number;
  probeMaxMs: number;
  probes: number;
  loopLagMaxMs: number;
  rssBeforeMiB: number;
  rssPeakMiB: number;
  rssAfterMiB: number;
}

async function throughServer(dir: string, bodyBytes: number, runs: number): Promise<ServeRow> {
  const configPath = join(dir, 'olympian.json');
  writeFileSync(
    configPath,
    JSON.stringify({
      backend: 'wasm',
      tokens: 1,
      limits: { jsonBodyBytes: 64 * MiB, bodyTimeoutMs: 120_000 },
      models: [{ name: 'm', model: { zoo: 'mobilenet_v2', inputSize: 32, seed: 1 } }],
    }),
  );
  const { body } = rowBody(bodyBytes);
  const { child, url } = await startServeChild(configPath);
  const probeAgent = new Agent({ keepAlive: true, maxSockets: 1 });
  const bigAgent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    await send(url, '/v2/health/ready', null, probeAgent);
    await loopLagMaxMs(url, probeAgent);
    const before = rssMiB(child.pid!);
    const rows: Array<Omit<ServeRow, 'bodyMiB' | 'rssBeforeMiB' | 'rssPeakMiB' | 'rssAfterMiB'>> = [];
    for (let run = 0; run < runs; run++) {
      let waiting = true;
      let probeMaxMs = 0;
      let probes = 0;
      const prober = (async () => {
        while (waiting) {
          const startedAt = performance.now();
          await send(url, '/v2/health/ready', null, probeAgent);
          probeMaxMs = Math.max(probeMaxMs, performance.now() - startedAt);
          probes++;
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
      })();
      const startedAt = performance.now();
      const answer = await send(url, '/v1/models/m:predict', body, bigAgent);
      const requestMs = performance.now() - startedAt;
      waiting = false;
      await prober;
      rows.push({
        status: answer.status,
        requestMs: round(requestMs, 1),
        probeMaxMs: round(probeMaxMs, 1),
        probes,
        loopLagMaxMs: await loopLagMaxMs(url, probeAgent),
      });
    }
    const peak = rssMiB(child.pid!).peak;
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const pick = (key: 'requestMs' | 'probeMaxMs' | 'loopLagMaxMs') => round(median(rows.map((r) => r[key])), 1);
    return {
      bodyMiB: round(body.byteLength / MiB, 2),
      status: rows[0].status,
      requestMs: pick('requestMs'),
      probeMaxMs: pick('probeMaxMs'),
      probes: rows[0].probes,
      loopLagMaxMs: pick('loopLagMaxMs'),
      rssBeforeMiB: before.rss,
      rssPeakMiB: peak,
      rssAfterMiB: rssMiB(child.pid!).rss,
    };
  } finally {
    probeAgent.destroy();
    bigAgent.destroy();
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
  }
}

async function main(quick: boolean): Promise<void> {
  const loadAvgStart = loadavg().map((v) => round(v, 2));
  const meta = await benchMeta('json-body', { quick, backend: 'wasm' });
  const sizesMiB = quick ? [1, 4, 16] : [1, 2, 4, 8, 16, 32, 44];
  const runs = quick ? 1 : 3;
  const steps: StepRow[] = [];
  for (const sizeMiB of sizesMiB) {
    const { body, images } = rowBody(sizeMiB * MiB);
    steps.push(timeSteps('tfserving-rows', body, runs));
    steps.push(timeSteps('kserve-flat', flatBody(images), runs));
    console.log(
      `json-body: in process ${sizeMiB} MiB: ${JSON.stringify(steps.slice(-2).map((s) => [s.format, s.blockMs]))}`,
    );
  }
  const dir = mkdtempSync(join(tmpdir(), 'olympian-bench-json-'));
  const served: ServeRow[] = [];
  try {
    for (const sizeMiB of sizesMiB) {
      served.push(await throughServer(dir, sizeMiB * MiB, runs));
      console.log(`json-body: served ${sizeMiB} MiB: ${JSON.stringify(served.at(-1))}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const loadAvgEnd = loadavg().map((v) => round(v, 2));
  const rows = steps.filter((s) => s.format === 'tfserving-rows');
  const within = served.filter((s) => s.probeMaxMs <= kProbeBudgetMs);
  const largest = served.at(-1)!;
  const perMiB = (key: 'parseMs' | 'convertMs' | 'blockMs') => round(median(rows.map((r) => r[key] / r.bodyMiB)), 2);
  const summary = {
    probeBudgetMs: kProbeBudgetMs,
    largestBodyWithinBudgetMiB: within.length ? Math.max(...within.map((s) => s.bodyMiB)) : 0,
    parseMsPerMiB: perMiB('parseMs'),
    convertMsPerMiB: perMiB('convertMs'),
    blockMsPerMiB: perMiB('blockMs'),
    largestBodyMiB: largest.bodyMiB,
    largestProbeMaxMs: largest.probeMaxMs,
    largestLoopLagMaxMs: largest.loopLagMaxMs,
    largestRssPeakMiB: largest.rssPeakMiB,
    largestRssAfterMiB: largest.rssAfterMiB,
    loadAvg1Start: loadAvgStart[0],
    loadAvg1End: loadAvgEnd[0],
  };
  const markdown = [
    `The event loop's cost of one JSON request, by body size: ${kImageSize}×${kImageSize}×3 images, values 0..1 in steps of 1/255.`,
    `Load average at start ${loadAvgStart.join(' ')}, at end ${loadAvgEnd.join(' ')} (the machine is shared: figures are indicative).`,
    '',
    '## In process: the steps, median of ' + runs,
    '',
    table(
      [
        'format',
        'body MiB',
        'values',
        'to text ms',
        'JSON.parse ms',
        'to typed arrays ms',
        'event loop blocked ms',
        'heap held MiB',
      ],
      steps.map((s) => [s.format, s.bodyMiB, s.values, s.textMs, s.parseMs, s.convertMs, s.blockMs, s.heapMiB]),
    ),
    '',
    `## Through \`olympian serve\`: a predict that fails the shape check, a probe every 10 ms (median of ${runs})`,
    '',
    table(
      [
        'body MiB',
        'status',
        'request ms',
        'longest probe wait ms',
        'probes',
        'event-loop delay max ms',
        'RSS before MiB',
        'RSS peak MiB',
        'RSS 1 s after MiB',
      ],
      served.map((s) => [
        s.bodyMiB,
        s.status,
        s.requestMs,
        s.probeMaxMs,
        s.probes,
        s.loopLagMaxMs,
        s.rssBeforeMiB,
        s.rssPeakMiB,
        s.rssAfterMiB,
      ]),
    ),
    '',
    `Largest body whose longest probe wait stayed within ${kProbeBudgetMs} ms: ${summary.largestBodyWithinBudgetMiB} MiB.`,
  ].join('\n');
  const path = writeResults(
    meta,
    { summary, config: { imageSize: kImageSize, sizesMiB, runs }, steps, served },
    markdown,
  );
  console.log(`json-body: wrote ${path}`);
}

export async function run(options: BenchOptions): Promise<void> {
  await main(options.quick);
}
