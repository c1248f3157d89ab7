import { execFile } from 'node:child_process';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ErrorCode } from '../src/protocol/errors.js';
import type { NamedTensors } from '../src/protocol/tensors.js';
import { createServer, type Server } from '../src/server/server.js';
import { image, rejectsWith, tinySession } from './helpers-server.js';

const embedding = suite('createServer: embedding in-process');

embedding('serves several models and reports them in stats', async () => {
  const server = await createServer({
    backend: 'wasm',
    policy: 'fair',
    quantumMs: 1,
    tokens: 1,
    sessions: [tinySession('a'), tinySession('b', { seed: 2, inputSize: 24 })],
  });
  try {
    assert.equal(server.models, ['a', 'b']);
    const a = await server.infer('a', image(16));
    const b = await server.infer('b', image(24));
    assert.equal(a.logits.shape, [1, 10]);
    assert.equal(b.logits.shape, [1, 10]);
    const bare = await server.infer('a', image(16).image.data);
    assert.equal(
      Array.from(bare.logits.data as ArrayLike<number>),
      Array.from(a.logits.data as ArrayLike<number>),
      'a bare typed array means the one input',
    );
    const stats = server.stats();
    assert.is(stats.policy, 'fair');
    assert.is(stats.tokens, 1);
    const row = stats.sessions.find((s) => s.name === 'a')!;
    assert.is(row.backend?.name, 'wasm');
    assert.is(row.accounting, 'measured');
    assert.is(row.inferences, 2);
    assert.ok(row.latencyP50Ms > 0 && row.latencyP99Ms >= row.latencyP50Ms);
    assert.ok(row.longestKernelMs > 0);
    assert.ok(row.chargedMs > 0 && row.share > 0 && row.residentMb > 0);
    assert.equal(
      server.signature('a').inputs.map((i) => i.name),
      ['image'],
    );
  } finally {
    await server.close();
  }
});

embedding('rejects a bad configuration with INVALID_CONFIG naming the key', async () => {
  await rejectsWith(createServer({ device: 'tpu' as never }), ErrorCode.INVALID_CONFIG, 'device');
  await rejectsWith(
    createServer({ sessions: [tinySession('a'), tinySession('b', {}, { maxBatch: 0 })] }),
    ErrorCode.INVALID_CONFIG,
    'sessions[1].maxBatch',
  );
  await rejectsWith(
    createServer({ sessions: [tinySession('a'), tinySession('a')] }),
    ErrorCode.INVALID_CONFIG,
    'sessions[1].name',
  );
  await rejectsWith(
    createServer({ sessions: [tinySession('a', {}, { weight: -1 })] }),
    ErrorCode.INVALID_CONFIG,
    'sessions[0].weight',
  );
  await rejectsWith(createServer({ quantumMs: 0 }), ErrorCode.INVALID_CONFIG, 'quantumMs');
  await rejectsWith(
    createServer({ sessions: [{ name: 'x', model: 42 as never }] }),
    ErrorCode.INVALID_CONFIG,
    'sessions[0].model',
  );
});

embedding('rejects naming the session that failed to start, and stops the others', async () => {
  const error = await rejectsWith(
    createServer({
      backend: 'wasm',
      sessions: [tinySession('fine'), { name: 'broken', model: '/no/such/model.json' }],
    }),
    ErrorCode.MODEL_LOAD_FAILED,
  );
  assert.is(error.session, 'broken');
  assert.is(error.field, 'sessions[1].model', 'the configuration key, not the file path');
});

embedding(
  'a zoo model at an input size its architecture cannot take is refused with the config, before any thread starts',
  async () => {
    await rejectsWith(
      createServer({ sessions: [{ name: 'z', model: { zoo: 'alexnet', inputSize: 20 } }] }),
      ErrorCode.INVALID_CONFIG,
      'sessions[0].model.inputSize',
    );
    await rejectsWith(
      createServer({ sessions: [{ name: 'z', model: 'zoo:resnet50@8' }] }),
      ErrorCode.INVALID_CONFIG,
      'sessions[0].model',
    );
    await rejectsWith(
      createServer({ sessions: [{ name: 'z', model: { zoo: 'lenet' } }] }),
      ErrorCode.INVALID_CONFIG,
      'sessions[0].model.zoo',
    );
    await rejectsWith(
      createServer({ sessions: [{ ...tinySession('t'), maxbatch: 4 } as never] }),
      ErrorCode.INVALID_CONFIG,
      'sessions[0].maxbatch',
    );
  },
);

embedding.run();

const requests = suite('createServer: bad requests never reach a queue');

let server: Server;
requests.before(async () => {
  server = await createServer({ backend: 'wasm', maxRequestBytes: 64 * 1024, sessions: [tinySession('m')] });
});
requests.after(async () => server.close());

requests(
  'unknown model, missing or extra input, wrong dtype, shape or length, too large: typed errors naming the field',
  async () => {
    const good = image(16).image;
    await rejectsWith(server.infer('nope', image()), ErrorCode.NOT_FOUND, 'model');
    await rejectsWith(server.infer('m', {}), ErrorCode.INVALID_ARGUMENT, 'inputs.image');
    await rejectsWith(server.infer('m', { image: good, extra: good }), ErrorCode.INVALID_ARGUMENT, 'inputs.extra');
    await rejectsWith(
      server.infer('m', { image: { ...good, dtype: 'int32', data: new Int32Array(good.data.length) } }),
      ErrorCode.INVALID_ARGUMENT,
      'inputs.image.dtype',
    );
    await rejectsWith(
      server.infer('m', { image: { ...good, dtype: 'complex' as never } }),
      ErrorCode.INVALID_ARGUMENT,
      'inputs.image.dtype',
    );
    await rejectsWith(server.infer('m', image(8)), ErrorCode.INVALID_ARGUMENT, 'inputs.image.shape');
    await rejectsWith(
      server.infer('m', { image: { ...good, data: good.data.subarray(1) } }),
      ErrorCode.INVALID_ARGUMENT,
      'inputs.image.data',
    );
    await rejectsWith(
      server.infer('m', { image: { ...good, data: new Float64Array(good.data.length) } }),
      ErrorCode.INVALID_ARGUMENT,
      'inputs.image.data',
    );
    await rejectsWith(server.infer('m', image(16, Math.sin, 40)), ErrorCode.TOO_LARGE, 'inputs');
    await rejectsWith(server.infer('m', null as never), ErrorCode.INVALID_ARGUMENT, 'inputs');
    await rejectsWith(server.infer('m', image(), { deadlineMs: -1 }), ErrorCode.INVALID_ARGUMENT, 'deadlineMs');
    const stats = server.stats().sessions[0];
    assert.is(stats.inferences, 0, 'nothing ran');
    assert.equal((await server.infer('m', image())).logits.shape, [1, 10], 'and it still serves');
  },
);

requests('a request whose deadline passes while queued fails with DEADLINE_EXCEEDED and never runs', async () => {
  const before = server.stats().sessions[0].inferences;
  const slow = Array.from({ length: 3 }, () => server.infer('m', image()));
  const late = server.infer('m', image(), { deadlineMs: 0.001 });
  await rejectsWith(late, ErrorCode.DEADLINE_EXCEEDED);
  await Promise.all(slow);
  assert.is(server.stats().sessions[0].inferences, before + 3);
  assert.is(server.stats().sessions[0].errors.DEADLINE_EXCEEDED, 1);
});

requests('an aborted request is CANCELLED', async () => {
  const controller = new AbortController();
  const running = [server.infer('m', image()), server.infer('m', image())];
  const queued = server.infer('m', image(), { signal: controller.signal });
  controller.abort();
  await rejectsWith(queued, ErrorCode.CANCELLED);
  await Promise.all(running);
});

requests.run();

const runtime = suite('createServer: run-time changes');

runtime('weights, priorities, policy and quantum change without a restart', async () => {
  const s = await createServer({ backend: 'wasm', sessions: [tinySession('a'), tinySession('b')] });
  try {
    s.setWeight('a', 3);
    s.setPriority('b', 5);
    s.setPolicy('priority');
    s.setQuantum(2);
    const stats = s.stats();
    assert.is(stats.policy, 'priority');
    assert.is(stats.quantumMs, 2);
    assert.is(stats.sessions.find((r) => r.name === 'a')!.weight, 3);
    assert.is(stats.sessions.find((r) => r.name === 'b')!.priority, 5);
    await rejectsWith(
      Promise.resolve().then(() => s.setWeight('a', 0)),
      ErrorCode.INVALID_CONFIG,
      'sessions.a.weight',
    );
    await rejectsWith(
      Promise.resolve().then(() => s.setWeight('zz', 1)),
      ErrorCode.NOT_FOUND,
      'model',
    );
  } finally {
    await s.close();
  }
});

runtime('addSession and removeSession (which drains first)', async () => {
  const s = await createServer({ backend: 'wasm', sessions: [tinySession('a')] });
  try {
    await s.addSession(tinySession('b', { seed: 3 }));
    assert.equal(s.models, ['a', 'b']);
    const pending = [s.infer('b', image()), s.infer('b', image()), s.infer('b', image())];
    await s.removeSession('b');
    for (const result of await Promise.all(pending)) assert.equal(result.logits.shape, [1, 10]);
    assert.equal(s.models, ['a']);
    await rejectsWith(s.infer('b', image()), ErrorCode.NOT_FOUND);
    await rejectsWith(s.addSession(tinySession('a')), ErrorCode.INVALID_CONFIG, 'session.name');
  } finally {
    await s.close();
  }
});

runtime('a session beyond memoryBudgetMB is refused with RESOURCE_EXHAUSTED', async () => {
  const s = await createServer({
    backend: 'wasm',
    memoryBudgetMB: 1,
    sessions: [tinySession('small', { channels: 4, layers: 1 })],
  });
  try {
    const big = tinySession('big', { channels: 256, layers: 4, inputSize: 32 }, { maxBatch: 8 });
    const error = await rejectsWith(s.addSession(big), ErrorCode.RESOURCE_EXHAUSTED, 'memoryBudgetMB');
    assert.is(error.session, 'big');
    assert.equal(s.models, ['small']);
  } finally {
    await s.close();
  }
});

runtime('close() fails queued work when not draining and refuses new work', async () => {
  const s = await createServer({
    backend: 'wasm',
    sessions: [tinySession('a', { inputSize: 48, channels: 32, layers: 5 })],
  });
  const work = Array.from({ length: 6 }, () => s.infer('a', image(48)));
  const closing = s.close({ drain: false });
  const results = await Promise.allSettled(work);
  await closing;
  assert.ok(
    results.some((r) => r.status === 'rejected' && (r.reason as { code?: string }).code === ErrorCode.UNAVAILABLE),
  );
  await rejectsWith(s.infer('a', image(48)), ErrorCode.UNAVAILABLE);
});

runtime('close({ drain: false }) during a drained close hurries it: what is still queued fails', async () => {
  const s = await createServer({
    backend: 'wasm',
    sessions: [tinySession('a', { inputSize: 48, channels: 32, layers: 5 })],
  });
  const work = Array.from({ length: 8 }, () => s.infer('a', image(48)));
  const drained = s.close();
  const hurried = s.close({ drain: false });
  const results = await Promise.allSettled(work);
  await Promise.all([drained, hurried]);
  const failed = results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason.code);
  assert.ok(failed.length > 0 && failed.every((code) => code === ErrorCode.UNAVAILABLE), `outcomes: ${failed}`);
});

runtime('after close() the process exits on its own: no thread or handle left open', async () => {
  const started = Date.now();
  const output = await new Promise<string>((resolve, reject) => {
    const fixture = new URL('./fixtures/close-and-exit.ts', import.meta.url).pathname;
    execFile(process.execPath, ['--import', 'tsx', fixture], { timeout: 30_000 }, (error, stdout, stderr) =>
      error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout),
    );
  });
  assert.match(output, 'closed');
  assert.ok(Date.now() - started < 30_000);
});

runtime.run();

const batching = suite('createServer: batching');

batching('coalesces queued requests into one run and splits the outputs back', async () => {
  const s = await createServer({
    backend: 'wasm',
    sessions: [tinySession('b', {}, { maxBatch: 4, batchWindowUs: 50_000 })],
  });
  const reference = await createServer({ backend: 'wasm', sessions: [tinySession('r')] });
  try {
    const inputs = [0, 1, 2, 3].map((k) => image(16, (i) => Math.sin(i * (k + 1))));
    const expected: NamedTensors[] = [];
    for (const input of inputs) expected.push(await reference.infer('r', structuredClone(input)));
    const before = s.stats().sessions[0];
    const outputs = await Promise.all(inputs.map((input) => s.infer('b', input)));
    const after = s.stats().sessions[0];
    assert.is(after.inferences - before.inferences, 4);
    assert.is(after.batches - before.batches, 1, 'four requests, one run');
    outputs.forEach((out, k) => {
      assert.equal(out.logits.shape, [1, 10]);
      const want = expected[k].logits.data;
      out.logits.data.forEach((v, i) =>
        assert.ok(Math.abs(Number(v) - Number(want[i])) < 1e-5, `request ${k}[${i}]: ${v} vs ${want[i]}`),
      );
    });
  } finally {
    await s.close();
    await reference.close();
  }
});

batching.run();
