import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { DeviceArbiter, type ArbiterOptions } from '../src/arbiter/arbiter.js';
import { calibrateSpin } from '../bench/lib/synthetic-kernel.js';
import { SyntheticFleet, type SyntheticSessionSpec } from '../bench/lib/synthetic-fleet.js';
import { fixtureWorker, nextMessage, stopWorkers } from './helpers.js';

const iterationsPerMs = calibrateSpin(5, 500_000);

/** Runs synthetic sessions, all backlogged, and returns each one's share of the cost charged in the window. */
async function chargedShares(options: ArbiterOptions, specs: SyntheticSessionSpec[], windowMs: number) {
  const arbiter = new DeviceArbiter(options);
  const fleet = await SyntheticFleet.start(specs, { arbiter, iterationsPerMs });
  try {
    fleet.go();
    await sleep(windowMs / 4); // everyone backlogged before the window opens
    const before = arbiter.stats().sessions.map((s) => s.chargedMs);
    await sleep(windowMs);
    const after = arbiter.stats().sessions.map((s) => s.chargedMs);
    fleet.stop();
    await fleet.finished();
    const deltas = after.map((value, i) => value - before[i]);
    const total = deltas.reduce((a, b) => a + b, 0);
    return deltas.map((delta) => delta / total);
  } finally {
    await fleet.terminate();
    arbiter.close();
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const threads = suite('arbiter policies with real session threads');

threads('fair: equal charged cost among sessions with different kernel sizes', async () => {
  const kernels = [0.05, 0.2, 0.5, 1, 2];
  const shares = await chargedShares(
    { policy: 'fair', quantumMs: 2 },
    kernels.map((kernelMs, i) => ({ name: `k${i}`, kernelMs })),
    1500,
  );
  for (const share of shares)
    assert.ok(Math.abs(share - 0.2) / 0.2 < 0.05, `shares ${shares.map((s) => s.toFixed(3))}`);
});

threads('weighted: charged cost splits 1:2:4', async () => {
  const shares = await chargedShares(
    { policy: 'weighted', quantumMs: 1 },
    [1, 2, 4].map((weight) => ({ name: `w${weight}`, kernelMs: 0.25, weight })),
    1500,
  );
  [1 / 7, 2 / 7, 4 / 7].forEach((target, i) =>
    assert.ok(Math.abs(shares[i] - target) / target < 0.05, `shares ${shares.map((s) => s.toFixed(3))}`),
  );
});

threads('priority: a high-priority request is served at the next quantum boundary', async () => {
  const quantumMs = 2;
  const kernelMs = 0.5;
  const arbiter = new DeviceArbiter({ policy: 'priority', quantumMs });
  const fleet = await SyntheticFleet.start(
    [0, 1].map((i) => ({ name: `low${i}`, kernelMs, priority: 0 })),
    { arbiter, iterationsPerMs },
  );
  const grant = arbiter.register({ name: 'high', priority: 10 });
  const probe = fixtureWorker('priority-probe.worker.js', { grant, lowSlots: fleet.slots, requests: 30 });
  try {
    fleet.go();
    const { delaysMs } = await nextMessage<{ delaysMs: number[] }>(probe, 'done');
    const worst = Math.max(...delaysMs);
    assert.ok(worst <= quantumMs + kernelMs + 1e-9, `lows were charged up to ${worst} ms before the high session ran`);
    assert.ok(arbiter.stats().sessions[0].chargedMs > 0, 'the low-priority session did run');
  } finally {
    await stopWorkers([probe]);
    await fleet.terminate();
    arbiter.close();
  }
});

threads('a holder killed mid-quantum loses its token; the others carry on', async () => {
  const arbiter = new DeviceArbiter({ policy: 'fair', quantumMs: 1 });
  const counters = new SharedArrayBuffer(16);
  const hogGrant = arbiter.register({ name: 'hog' });
  const hog = fixtureWorker('token-holder.worker.js', { grant: hogGrant, counters, rounds: 0, tokens: 1, hog: true });
  arbiter.watch(hog, hogGrant.slot);
  await nextMessage(hog, 'holding');
  const others = [0, 1, 2].map((i) => {
    const grant = arbiter.register({ name: `s${i}` });
    const worker = fixtureWorker('token-holder.worker.js', {
      grant,
      counters: new SharedArrayBuffer(16),
      rounds: 500,
      tokens: 1,
    });
    arbiter.watch(worker, grant.slot);
    return worker;
  });
  try {
    await sleep(50);
    assert.is(arbiter.stats().sessions.find((s) => s.name === 'hog')!.state, 'holding');
    await hog.terminate();
    await Promise.all(others.map((w) => nextMessage(w, 'done')));
    const stats = arbiter.stats();
    assert.is(stats.sessions.find((s) => s.name === 'hog')!.state, 'dead');
    assert.is(stats.freeTokens, 1);
    assert.is(stats.waiting, 0);
  } finally {
    await stopWorkers(others);
    arbiter.close();
  }
});

threads(
  'priority: a session promoted after starving shares its new class by weight, not by its backlog of credit',
  async () => {
    const arbiter = new DeviceArbiter({ policy: 'priority', quantumMs: 1 });
    const fleet = await SyntheticFleet.start(
      [
        { name: 'high', kernelMs: 0.25, priority: 1 },
        { name: 'starved', kernelMs: 0.25, priority: 0 },
        { name: 'low', kernelMs: 0.25, priority: 0 },
      ],
      { arbiter, iterationsPerMs },
    );
    try {
      fleet.go();
      await sleep(600); // `high` alone runs; the other two wait and fall ~600 ms behind in virtual time
      const [high, starved] = fleet.slots;
      arbiter.setPriority(starved, 1);
      const before = arbiter.stats().sessions.map((s) => s.chargedMs);
      await sleep(400);
      const after = arbiter.stats().sessions.map((s) => s.chargedMs);
      const promoted = after[starved] - before[starved];
      const incumbent = after[high] - before[high];
      const share = promoted / (promoted + incumbent);
      assert.ok(Math.abs(share - 0.5) < 0.1, `the promoted session took ${(share * 100).toFixed(1)}% of its new class`);
      assert.ok(after[2] - before[2] < 0.02 * (promoted + incumbent), 'the low class still waits');
    } finally {
      fleet.stop();
      await fleet.finished();
      await fleet.terminate();
      arbiter.close();
    }
  },
);

threads.run();
