/**
 * engines: the same networks on TF.js wasm and on onnxruntime's CPU provider, side by side in one run —
 * a conv stack and a zoo architecture, each built once in TF.js and written as ONNX with the same weights
 * (bench/lib/onnx-networks.ts). Per network: latency at batch 1 (one session each, requests alternating
 * between the engines so that drift falls on both) and throughput with K = cores (cores instances, two
 * closed-loop clients each, one engine at a time, the order turning per repetition). `speedup` =
 * onnxruntime over TF.js at batch 1 (p50 latency ratio); summary.speedup is the conv stack's.
 *
 * Then the ONNX engine's own figures: where run() spends its CPU time (the session's thread, or others), and
 * what splitting the zoo network into segments costs (a run's time alone, whole vs split) against what it
 * buys: the longest token hold (the interleaving interval) and a small model's p99 beside it at K = 1.
 */
import { availableParallelism } from 'node:os';
import { readdirSync, rmSync } from 'node:fs';
import { createServer } from '../src/server/server.js';
import { prepareNetworks, type Network, type NetworkSpec } from './lib/onnx-networks.js';
import { request, segments, sleep, timed } from './lib/onnx-segments.js';
import { startProgress } from './lib/progress.js';
import { benchMeta, pinForBackend, table, writeResults, type BenchOptions } from './lib/report.js';
import { median, percentile, round } from './lib/stats.js';
import { threadCpuMs } from './lib/thread-cpu.js';

/** Batch-1 latency of both engines, one request each in turn; and the largest output difference. */
async function latency(net: Network, pairs: number) {
  const server = await createServer({
    sessions: [
      { name: 'tfjs', model: net.tfjs },
      { name: 'onnx', model: net.onnx },
    ],
  });
  try {
    const [a, b] = await Promise.all([
      server.infer('tfjs', request(net.inputSize)),
      server.infer('onnx', request(net.inputSize)),
    ]);
    const x = Object.values(a)[0].data as Float32Array;
    const y = b.output.data as Float32Array;
    const maxAbsDiff = Math.max(...Array.from(x, (v, i) => Math.abs(v - y[i])));
    for (let i = 0; i < 3; i++) for (const name of ['tfjs', 'onnx']) await timed(server, name, net.inputSize);
    const times: Record<string, number[]> = { tfjs: [], onnx: [] };
    for (let i = 0; i < pairs; i++)
      for (const name of i % 2 === 0 ? ['tfjs', 'onnx'] : ['onnx', 'tfjs'])
        times[name].push(await timed(server, name, net.inputSize));
    const tid = server.sessionInfo('onnx').tid;
    const cpu = () => Object.fromEntries(readdirSync('/proc/self/task').map((t) => [t, threadCpuMs(Number(t))]));
    const before = cpu();
    for (let i = 0; i < pairs; i++) await timed(server, 'onnx', net.inputSize);
    const after = cpu();
    // The caller's side (the main thread here) is not the engine's: the share is of every other thread.
    const others = Object.keys(after).filter((t) => Number(t) !== process.pid && Number(t) !== tid);
    const sessionMs = after[tid] - before[tid];
    const otherMs = others.reduce((sum, t) => sum + Math.max(0, after[t] - (before[t] ?? 0)), 0);
    return { times, maxAbsDiff, runOnSessionThreadPct: (100 * sessionMs) / (sessionMs + otherMs) };
  } finally {
    await server.close();
  }
}

/** Requests per second with K = cores: `cores` instances of one engine, two closed-loop clients each. */
async function throughput(model: Network['tfjs'], size: number, cores: number, warmupMs: number, windowMs: number) {
  const server = await createServer({
    tokens: cores,
    sessions: [{ name: 'm', model, instances: cores, maxQueue: 64 }],
  });
  try {
    let stop = false;
    let done = 0;
    let counting = false;
    const clients = Array.from({ length: 2 * cores }, async () => {
      while (!stop) {
        await server.infer('m', request(size));
        if (counting) done++;
      }
    });
    await sleep(warmupMs);
    counting = true;
    const started = performance.now();
    await sleep(windowMs);
    counting = false;
    const elapsedMs = performance.now() - started;
    stop = true;
    await Promise.all(clients);
    return (done / elapsedMs) * 1000;
  } finally {
    await server.close();
  }
}

export async function run(options: BenchOptions) {
  const { quick } = options;
  const cores = availableParallelism();
  pinForBackend(options.backend, cores === 1 ? '0' : `0-${cores - 1}`);
  const meta = await benchMeta('engines', options);
  const specs: NetworkSpec[] = [
    { name: 'conv_stack', convStack: { layers: 8, channels: 32, inputSize: 64 }, inputSize: 64 },
    { name: 'resnet50', zoo: 'resnet50', inputSize: quick ? 64 : 96 },
    { name: 'mobilenet_v2', zoo: 'mobilenet_v2', inputSize: quick ? 64 : 96 },
  ];
  const pairs = quick ? 20 : 100;
  const reps = quick ? 1 : 3;
  const windowMs = quick ? 3000 : 10000;
  const warmupMs = quick ? 1000 : 3000;
  const { dir, networks } = await prepareNetworks(specs);
  const progress = startProgress('engines', networks.length * (1 + 2 * reps) + 1);
  const rows = [];
  try {
    for (const net of networks) {
      progress.label(`${net.name} latency`);
      const lat = await latency(net, pairs);
      progress.tick();
      const rps: Record<string, number[]> = { tfjs: [], onnx: [] };
      for (let rep = 0; rep < reps; rep++) {
        for (const engine of rep % 2 === 0 ? (['tfjs', 'onnx'] as const) : (['onnx', 'tfjs'] as const)) {
          progress.label(`${net.name} throughput ${engine}`);
          rps[engine].push(await throughput(net[engine], net.inputSize, cores, warmupMs, windowMs));
          progress.tick();
        }
      }
      const tfjsP50Ms = median(lat.times.tfjs);
      const onnxP50Ms = median(lat.times.onnx);
      rows.push({
        network: net.name,
        inputSize: net.inputSize,
        tfjsP50Ms: round(tfjsP50Ms, 3),
        onnxP50Ms: round(onnxP50Ms, 3),
        tfjsP99Ms: round(percentile(lat.times.tfjs, 99), 3),
        onnxP99Ms: round(percentile(lat.times.onnx, 99), 3),
        speedup: round(tfjsP50Ms / onnxP50Ms, 3),
        tfjsThroughputPerSec: round(median(rps.tfjs), 2),
        onnxThroughputPerSec: round(median(rps.onnx), 2),
        throughputSpeedup: round(median(rps.onnx) / median(rps.tfjs), 3),
        maxAbsDiff: lat.maxAbsDiff,
        runOnSessionThreadPct: round(lat.runOnSessionThreadPct, 1),
      });
      progress.log(
        `${net.name}: speedup ${rows[rows.length - 1].speedup}×, throughput ${rows[rows.length - 1].throughputSpeedup}×`,
      );
    }
    progress.label('segments');
    const split = await segments(networks[1], networks[0], 2, pairs, windowMs);
    progress.tick();
    progress.stop();
    const conv = rows[0];
    const summary = {
      speedup: conv.speedup,
      throughputSpeedup: conv.throughputSpeedup,
      zooSpeedup: rows[1].speedup,
      runOnSessionThreadPct: round(median(rows.map((r) => r.runOnSessionThreadPct)), 1),
      splitCostPct: split.splitCostPct,
      autoCostPct: split.autoCostPct,
      msPerCut: split.msPerCutMedian,
      intervalMsWhole: split.intervalMsWhole,
      intervalMsSplit: split.intervalMsSplit,
    };
    const markdown = [
      `The same networks (same weights) on TF.js wasm and onnxruntime-node's CPU provider; ${cores} cores. Latency: one session per engine, batch 1, ${pairs} requests each, alternating. Throughput: K = ${cores} tokens, ${cores} instances, ${2 * cores} closed-loop clients, ${windowMs / 1000} s windows, median of ${reps}.`,
      '',
      table(
        [
          'network',
          'input',
          'TF.js p50 ms',
          'ORT p50 ms',
          'speedup',
          'TF.js req/s',
          'ORT req/s',
          'throughput speedup',
          'max |Δ| of outputs',
          'run() CPU on the session thread %',
        ],
        rows.map((r) => [
          r.network,
          r.inputSize,
          r.tfjsP50Ms,
          r.onnxP50Ms,
          r.speedup,
          r.tfjsThroughputPerSec,
          r.onnxThroughputPerSec,
          r.throughputSpeedup,
          r.maxAbsDiff.toExponential(1),
          r.runOnSessionThreadPct,
        ]),
      ),
      '',
      `Segments (${split.network}, quantum ${split.quantumMs} ms, segmentMs = quantum): ${split.segmentsPerRun} segments per run. Alone at batch 1: whole ${split.wholeRunMs} ms, split ${split.splitRunMs} ms (${split.splitCostPct}%: a run per segment, and the copies of the carried tensors); the default (segments of 10, 20 or 40 ms within a 3% cost) made ${split.autoSegments}, ${split.autoRunMs} ms (${split.autoCostPct}%). Beside the conv stack at K = 1 (fair), the big model's token holds (the interleaving interval; from the token trace): p50 ${split.holdP50MsWhole} → ${split.holdP50MsSplit} ms, p90 ${split.intervalMsWhole} → ${split.intervalMsSplit} ms, max ${split.holdMaxMsWhole} → ${split.holdMaxMsSplit} ms (longest segment ${split.longestSegmentMs} ms); the conv stack's p99 ${split.smallP99MsWhole} → ${split.smallP99MsSplit} ms.`,
      '',
      table(
        ['segmentMs', 'segments', 'run ms (alone)', 'cost %', 'ms per cut'],
        split.sweep.map((r) => [r.segmentMs, r.segments, r.runMs, r.costPct, r.msPerCut]),
      ),
    ].join('\n');
    console.log(`wrote ${writeResults(meta, { cores, summary, networks: rows, segments: split }, markdown)}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
