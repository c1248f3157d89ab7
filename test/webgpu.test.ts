import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { DeviceArbiter } from '../src/arbiter/arbiter.js';
import { ErrorCode, isOlympianError } from '../src/protocol/errors.js';
import { createServer } from '../src/server/server.js';
import { Session } from '../src/workers/session.js';
import type { SessionOptions } from '../src/workers/session-options.js';
import { probeWebgpu } from '../src/device/webgpu.js';
import { image, rejectsWith, tinyModule, tinySession } from './helpers-server.js';

const native = suite('native TensorFlow backend');

native('a second native session is refused, pointing to webgpu', async () => {
  const error = await rejectsWith(
    createServer({ backend: 'tensorflow', sessions: [tinySession('a'), tinySession('b')] }),
    ErrorCode.INVALID_CONFIG,
    'backend',
  );
  assert.match(error.message, 'webgpu');
  assert.match(error.message, '8388');
});

native('gpuTiming on a backend without GPU timestamps is refused, naming the field', async () => {
  await rejectsWith(
    createServer({ backend: 'wasm', sessions: [{ ...tinySession('a'), gpuTiming: true }] }),
    ErrorCode.INVALID_CONFIG,
    'sessions[0].gpuTiming',
  );
});

native.run();

const adapter = await probeWebgpu().catch((error: Error) => {
  console.log(`skip: webgpu tests — ${error.message} (CI installs mesa-vulkan-drivers from bookworm-backports)`);
  return null;
});

const gpu = suite('webgpu sessions');

const onGpu = (name: string, extra: Partial<SessionOptions> = {}, options: object = {}): SessionOptions => ({
  name,
  model: { module: tinyModule, options },
  backend: 'webgpu',
  ...extra,
});

const close = (a: number | bigint, b: number | bigint) =>
  Math.abs(Number(a) - Number(b)) <= 1e-4 * Math.max(1, Math.abs(Number(b)));

gpu('reports the adapter and charges per-kernel estimates', async () => {
  const session = await Session.start(new DeviceArbiter(), onGpu('info'));
  try {
    const { backend, accounting, accountingNote } = session.info;
    assert.is(backend.name, 'webgpu');
    assert.type(backend.flags.vendor, 'string');
    assert.type(backend.flags.software, 'boolean');
    assert.is(accounting, 'estimated');
    assert.ok(accountingNote.length > 10);
  } finally {
    await session.close();
  }
});

for (const gateMode of ['overlap', 'strict'] as const) {
  gpu(`gated outputs equal ungated ones within float tolerance (${gateMode})`, async () => {
    const arbiter = new DeviceArbiter({ quantumMs: 0.05 });
    const gated = await Session.start(arbiter, onGpu('gated', { gateMode }));
    const ungated = await Session.start(null, onGpu('ungated'));
    try {
      assert.is(gated.info.gateMode, gateMode);
      for (let i = 0; i < 3; i++) {
        const fill = (j: number) => Math.cos(i + j);
        const [a, b] = await Promise.all([gated.infer(image(16, fill)), ungated.infer(image(16, fill))]);
        assert.equal(a.logits.shape, [1, 10]);
        a.logits.data.forEach((v, k) => assert.ok(close(v, b.logits.data[k]), `${v} vs ${b.logits.data[k]}`));
      }
    } finally {
      await Promise.all([gated.close(), ungated.close()]);
      arbiter.close();
    }
  });
}

// Strict mode: the token covers each session's GPU work up to the end of its inference, so both stay
// backlogged on the token. In overlap mode a session waits for its results without the token, and its share
// follows its demand rather than the policy (measured, not asserted: see BENCHMARKS.md).
gpu('two webgpu sessions interleave under fair with equal charged cost (strict)', async () => {
  const arbiter = new DeviceArbiter({ policy: 'fair', quantumMs: 1 });
  const sessions = await Promise.all([
    Session.start(arbiter, onGpu('small', { gateMode: 'strict' }, { inputSize: 16 })),
    Session.start(arbiter, onGpu('large', { gateMode: 'strict' }, { inputSize: 32, channels: 16 })),
  ]);
  let stop = false;
  const clients = sessions.flatMap((session, s) =>
    [0, 1, 2].map(async () => {
      // Four images a request: each run stays long beside the main thread's wait for a core on a loaded
      // machine, so neither session falls idle between requests (a fair share is owed to backlogged ones).
      while (!stop) await session.infer(image(s === 0 ? 16 : 32, Math.sin, 4));
    }),
  );
  try {
    await new Promise((resolve) => setTimeout(resolve, 500));
    const before = arbiter.stats().sessions.map((row) => row.chargedMs);
    await new Promise((resolve) => setTimeout(resolve, 2500));
    const after = arbiter.stats().sessions.map((row) => row.chargedMs);
    const deltas = after.map((value, i) => value - before[i]);
    const shares = deltas.map((d) => d / (deltas[0] + deltas[1]));
    assert.ok(
      deltas.every((d) => d > 0),
      `both ran: ${deltas}`,
    );
    assert.ok(Math.abs(shares[0] - 0.5) < 0.025, `shares ${shares.map((x) => x.toFixed(3))}`);
  } finally {
    stop = true;
    await Promise.all(clients);
    await Promise.all(sessions.map((s) => s.close()));
    arbiter.close();
  }
});

// Strict mode across a quantum boundary: the kernel hook cannot wait for the GPU (a blocked thread runs no
// promise), so the yield waits for the end of the layer, where the session awaits the GPU and then hands on.
gpu('strict: a quantum used up mid-inference is handed on between layers, once the GPU has finished', async () => {
  const arbiter = new DeviceArbiter({ policy: 'fair', quantumMs: 0.01 });
  const options = { inputSize: 16, layers: 6 };
  const strict = await Promise.all(
    ['a', 'b'].map((name) => Session.start(arbiter, onGpu(name, { gateMode: 'strict' }, options))),
  );
  const overlap = await Session.start(arbiter, onGpu('overlap', { gateMode: 'overlap' }, options));
  const reference = await Session.start(null, onGpu('reference', {}, options));
  try {
    const before = strict.map((session) => session.stats());
    const fill = (i: number) => (j: number) => Math.sin(i * 7 + j);
    const expected = await Promise.all([0, 1, 2, 3].map((i) => reference.infer(image(16, fill(i)))));
    // Both strict sessions backlogged (two requests each in flight), so each finds the other waiting.
    await Promise.all(
      strict.flatMap((session) =>
        [0, 1, 2, 3].map(async (i) => {
          const result = await session.infer(image(16, fill(i)));
          result.logits.data.forEach((v, k) =>
            assert.ok(close(v, expected[i].logits.data[k]), `${session.name}: ${v} vs ${expected[i].logits.data[k]}`),
          );
        }),
      ),
    );
    strict.forEach((session, s) => {
      const after = session.stats();
      const inferences = after.inferences - before[s].inferences;
      const waits = after.gpuWaits - before[s].gpuWaits;
      // 8 layers, each kernel over a 0.01 ms quantum: while the other session waits, most layer ends hand over
      // (after a wait), plus one wait at each end. Without the pause points it is one wait per inference; the
      // bound leaves room for the last inferences, which may run alone once the other session is done.
      assert.ok(waits >= 2 * inferences, `${session.name}: ${waits} GPU waits for ${inferences} inferences`);
      assert.ok(after.gpuWaitMs > before[s].gpuWaitMs);
      assert.is(after.liveTensors, after.baselineTensors, 'the layer-by-layer walk leaves nothing behind');
    });
    const result = await overlap.infer(image(16, fill(0)));
    result.logits.data.forEach((v, k) =>
      assert.ok(close(v, expected[0].logits.data[k]), `overlap ${v} vs ${expected[0].logits.data[k]}`),
    );
    assert.is(overlap.stats().gpuWaits, 0, 'overlap mode never waits for the GPU before handing on');
  } finally {
    await Promise.all([...strict, overlap, reference].map((session) => session.close()));
    arbiter.close();
  }
});

gpu('strict, alone on the device: the quantum is renewed without waiting for the GPU', async () => {
  const arbiter = new DeviceArbiter({ policy: 'fair', quantumMs: 0.01 });
  const session = await Session.start(arbiter, onGpu('alone', { gateMode: 'strict' }, { inputSize: 16, layers: 6 }));
  try {
    const before = session.stats();
    for (let i = 0; i < 3; i++) await session.infer(image(16));
    const after = session.stats();
    assert.is(
      after.gpuWaits - before.gpuWaits,
      after.inferences - before.inferences,
      'one wait per inference: its end',
    );
    assert.ok(after.chargedMs > before.chargedMs);
  } finally {
    await session.close();
    arbiter.close();
  }
});

// A graph model runs in one piece: holding the token to its end would undo the interleaving, so in strict
// mode it yields at its quantum boundaries as overlap does and waits for the GPU only at its end.
gpu('strict with a graph model (no pause points): hands over at boundaries, waits for the GPU at the end', async () => {
  // A twentieth of the layers session's weight: one kernel's charge puts the graph session's virtual time past
  // the layers session's, so the policy prefers the layers session at every boundary where it waits. (At equal
  // weights a tiny graph inference could finish inside the lead it had when granted the token, never handing
  // it over, and whether it did depended on timing.)
  const arbiter = new DeviceArbiter({ policy: 'weighted', quantumMs: 0.001 });
  const graph = await Session.start(arbiter, {
    name: 'graph',
    model: { module: tinyModule, exportName: 'createGpuGraphModel' },
    backend: 'webgpu',
    gateMode: 'strict',
    weight: 0.05,
  });
  const layers = await Session.start(arbiter, onGpu('layers', { gateMode: 'strict' }, { inputSize: 16, layers: 6 }));
  let stop = false;
  // Four clients keep the layers session backlogged, so it never releases the token between inferences: the
  // graph session gets it only by a yield, which leaves the layers session waiting for it back. The graph
  // model runs every op on the GPU (see the fixture): ops TF.js forwards to the CPU would cost nothing here
  // and never reach a boundary, which made this test flaky.
  const busy = [0, 1, 2, 3].map(async () => {
    while (!stop) await layers.infer(image(16));
  });
  try {
    await graph.infer({ x: { dtype: 'float32', shape: [1, 4], data: new Float32Array([1, 0, 0, 0]) } });
    const tokenWaits = () => arbiter.stats().sessions.find((row) => row.name === 'graph')!.waits;
    const before = graph.stats();
    const waitsBefore = tokenWaits();
    // An inference waits for the token at most once before it starts; more waits than inferences means it
    // handed the token over inside one. Whether a boundary finds the layers session waiting depends on where
    // its clients are in their round trips (a loaded machine stretches them), so run until that is seen.
    let inferences = 0;
    for (; inferences < 50 && (inferences < 5 || tokenWaits() - waitsBefore <= inferences); inferences++)
      await graph.infer({ x: { dtype: 'float32', shape: [1, 4], data: new Float32Array([inferences, 1, 2, 3]) } });
    const after = graph.stats();
    const waits = tokenWaits() - waitsBefore;
    assert.is(after.gpuWaits - before.gpuWaits, inferences, 'one GPU wait per inference, at its end');
    assert.ok(waits > inferences, `${waits} token waits for ${inferences} inferences: it handed over inside them`);
  } finally {
    stop = true;
    await Promise.all(busy);
    await Promise.all([graph.close(), layers.close()]);
    arbiter.close();
  }
});

gpu(
  'a GPU device lost mid-inference fails that request as a crash, and the session restarts on a new device',
  async () => {
    const session = await Session.start(new DeviceArbiter(), {
      ...onGpu('losing'),
      model: { module: tinyModule, exportName: 'createDeviceLosingModel' },
      restartBackoffMs: 10,
    });
    try {
      const two = {
        image: { dtype: 'float32' as const, shape: [2, 16, 16, 3], data: new Float32Array(2 * 16 * 16 * 3) },
      };
      const error = await session.infer(two).then(
        () => null,
        (e: unknown) => e,
      );
      assert.ok(isOlympianError(error, ErrorCode.SESSION_CRASHED), String(error));
      assert.match((error as Error).message, 'GPU device was lost');
      let restarted = null;
      for (let attempt = 0; attempt < 100 && !restarted; attempt++) {
        restarted = await session.infer(image(16)).catch(() => null);
        if (!restarted) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.ok(restarted, 'served again after the restart');
      assert.equal(Object.values(restarted!)[0].shape, [1, 10]);
      assert.is(session.stats().restarts, 1);
    } finally {
      await session.close();
    }
  },
);

gpu('work the GPU rejects (a binding over the adapter limit) fails the session start with a typed error', async () => {
  if (!adapter || adapter.maxStorageBufferBindingSize >= 9216 * 4096 * 4) {
    console.log(
      `skip: oversized binding — this adapter binds ${adapter?.maxStorageBufferBindingSize} bytes, the test weight fits`,
    );
    return;
  }
  const error = await rejectsWith(
    createServer({
      backend: 'webgpu',
      sessions: [{ name: 'big', model: { module: tinyModule, exportName: 'createOversizedModel' } }],
    }),
    ErrorCode.RESOURCE_EXHAUSTED,
    'device',
  );
  assert.match(error.message, 'storage buffer binding size');
});

gpu("gpuTiming adds each inference's GPU time from timestamp queries", async () => {
  if (!adapter?.timestampQuery) {
    console.log('skip: gpuTiming — this adapter has no timestamp-query');
    return;
  }
  const timed = await Session.start(new DeviceArbiter(), onGpu('timed', { gpuTiming: true }));
  const untimed = await Session.start(null, onGpu('untimed'));
  try {
    assert.is(timed.stats().gpuMs, 0, 'warm-up is not counted');
    const [a, b] = await Promise.all([timed.infer(image(16, Math.sin)), untimed.infer(image(16, Math.sin))]);
    a.logits.data.forEach((v, k) => assert.ok(close(v, b.logits.data[k]), `${v} vs ${b.logits.data[k]}`));
    const one = timed.stats().gpuMs;
    assert.ok(one > 0, `gpuMs ${one}`);
    await timed.infer(image(16));
    assert.ok(timed.stats().gpuMs > one, 'the second inference adds to it');
    assert.is(untimed.stats().gpuMs, 0);
  } finally {
    await Promise.all([timed.close(), untimed.close()]);
  }
});

if (adapter) gpu.run();
