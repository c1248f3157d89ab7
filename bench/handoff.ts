/**
 * handoff: notify-to-wake latency of a token handoff for 2, 4 and 8 sessions, with and without the heir's
 * spin, against a MessagePort hop between two threads as the baseline. Each session holds the token for
 * `holdUs` of work and then yields; with everyone backlogged every yield is a handoff.
 */
import { MessageChannel } from 'node:worker_threads';
import { DeviceArbiter } from '../src/index.js';
import { spawnBenchWorker } from './lib/spawn-bench-worker.js';
import { calibrateSpin } from './lib/synthetic-kernel.js';
import { startProgress } from './lib/progress.js';
import { benchMeta, table, writeResults, type BenchOptions } from './lib/report.js';
import { percentile, round } from './lib/stats.js';
import { nextMessage } from './lib/worker-messages.js';

interface Row {
  sessions: number;
  spin: boolean | 'n/a';
  mechanism: 'token' | 'messageport';
  p50Us: number;
  p99Us: number;
  p999Us: number;
  handoffsPerSec: number;
  samples: number;
}

const holdUs = 50;

async function tokenRow(sessions: number, spin: boolean, durationMs: number, iterationsPerMs: number): Promise<Row> {
  const arbiter = new DeviceArbiter({ tokens: 1, policy: 'fair', heirSpin: spin, spinUs: spin ? 2000 : 0 });
  const control = new SharedArrayBuffer(8);
  const words = new Int32Array(control);
  const workers = Array.from({ length: sessions }, (_, i) => {
    const grant = arbiter.register({ name: `s${i}` });
    const worker = spawnBenchWorker('handoff.worker.js', {
      workerData: {
        grant,
        control,
        holdIterations: Math.round((holdUs / 1000) * iterationsPerMs),
        holdMs: holdUs / 1000,
        maxSamples: 400_000,
      },
    });
    arbiter.watch(worker, grant.slot);
    return worker;
  });
  try {
    await Promise.all(workers.map((w) => nextMessage(w, 'ready')));
    const done = Promise.all(workers.map((w) => nextMessage<{ samples: Float64Array }>(w, 'done')));
    const handoffsBefore = arbiter.stats().handoffs;
    const startedAt = performance.now();
    Atomics.store(words, 0, 1);
    Atomics.notify(words, 0);
    await new Promise((resolve) => setTimeout(resolve, durationMs));
    const handoffs = arbiter.stats().handoffs - handoffsBefore;
    const elapsedMs = performance.now() - startedAt;
    Atomics.store(words, 1, 1);
    const samples = (await done).flatMap((r) => Array.from(r.samples));
    return {
      sessions,
      spin,
      mechanism: 'token',
      p50Us: round(percentile(samples, 50), 2),
      p99Us: round(percentile(samples, 99), 2),
      p999Us: round(percentile(samples, 99.9), 2),
      handoffsPerSec: Math.round((handoffs / elapsedMs) * 1000),
      samples: samples.length,
    };
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
    arbiter.close();
  }
}

async function messagePortRow(rounds: number): Promise<Row> {
  const { port1, port2 } = new MessageChannel();
  const start = performance.now();
  const workers = [
    spawnBenchWorker('ping.worker.js', { workerData: { port: port1, starter: true, rounds }, transferList: [port1] }),
    spawnBenchWorker('ping.worker.js', { workerData: { port: port2, starter: false, rounds }, transferList: [port2] }),
  ];
  try {
    const results = await Promise.all(workers.map((w) => nextMessage<{ samples: number[] }>(w, 'done')));
    const samples = results.flatMap((r) => r.samples);
    return {
      sessions: 2,
      spin: 'n/a',
      mechanism: 'messageport',
      p50Us: round(percentile(samples, 50), 2),
      p99Us: round(percentile(samples, 99), 2),
      p999Us: round(percentile(samples, 99.9), 2),
      handoffsPerSec: Math.round((samples.length / (performance.now() - start)) * 1000),
      samples: samples.length,
    };
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

export async function run(options: BenchOptions) {
  const { quick } = options;
  const meta = await benchMeta('handoff', options);
  const progress = startProgress('handoff', 7);
  const durationMs = quick ? 1500 : 5000;
  const iterationsPerMs = calibrateSpin();
  const rows: Row[] = [];
  for (const sessions of [2, 4, 8]) {
    for (const spin of [false, true]) {
      progress.label(`${sessions} sessions, spin ${spin}`);
      const row = await tokenRow(sessions, spin, durationMs, iterationsPerMs);
      progress.tick();
      progress.log(
        `token       sessions=${sessions} spin=${spin}: p50 ${row.p50Us} µs, p99 ${row.p99Us} µs, ${row.handoffsPerSec}/s`,
      );
      rows.push(row);
    }
  }
  progress.label('MessagePort baseline');
  const baseline = await messagePortRow(quick ? 5000 : 20000);
  progress.tick();
  progress.stop();
  console.log(`messageport sessions=2: p50 ${baseline.p50Us} µs, p99 ${baseline.p99Us} µs`);
  rows.push(baseline);

  const targetRows = rows.filter((r) => r.mechanism === 'token' && r.sessions <= 4);
  const targets = {
    p50UsMax: 10,
    p99UsMax: 100,
    metBySpin: {
      false: targetRows.filter((r) => !r.spin).every((r) => r.p50Us <= 10 && r.p99Us <= 100),
      true: targetRows.filter((r) => r.spin).every((r) => r.p50Us <= 10 && r.p99Us <= 100),
    },
  };
  const markdown = [
    `Notify-to-wake latency of a token handoff (each session holds ${holdUs} µs of work, then yields; K = 1, fair).`,
    'The MessagePort row is one hop of a timestamped message between two worker threads.',
    '',
    table(
      ['mechanism', 'sessions', 'spin', 'p50Us', 'p99Us', 'p999Us', 'handoffsPerSec', 'samples'],
      rows.map((r) => [r.mechanism, r.sessions, r.spin, r.p50Us, r.p99Us, r.p999Us, r.handoffsPerSec, r.samples]),
    ),
    '',
    `Targets for 2 and 4 sessions: p50 ≤ 10 µs, p99 ≤ 100 µs — met without spin: ${targets.metBySpin.false}; with the heir spinning: ${targets.metBySpin.true}.`,
  ].join('\n');
  const path = writeResults(meta, { holdUs, durationMs, rows, targets }, markdown);
  console.log(`wrote ${path}`);
}
