import { execFile } from 'node:child_process';
import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { DeviceArbiter } from '../src/arbiter/arbiter.js';
import { loadOrt, type Ort, type OrtTensor } from '../src/onnx/ort.js';
import { profileOnnx } from '../src/profiler/onnx-profile.js';
import { ErrorCode } from '../src/protocol/errors.js';
import type { NamedTensors, WireTensor } from '../src/protocol/tensors.js';
import { createServer } from '../src/server/server.js';
import { Session } from '../src/workers/session.js';
import { writeOnnxFixtures } from './fixtures/onnx-models.js';
import { rejectsWith } from './helpers-server.js';

const models = await writeOnnxFixtures();

/** The reference: onnxruntime's own `run()` on the same file and input, in this thread, on the CPU provider. */
async function reference(ort: Ort, path: string, inputs: NamedTensors): Promise<Record<string, OrtTensor>> {
  const session = await ort.InferenceSession.create(path, {
    executionProviders: ['cpu'],
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3,
  });
  try {
    const feeds = Object.fromEntries(
      Object.entries(inputs).map(([name, t]) => [name, new ort.Tensor(t.dtype, t.data as never, t.shape)]),
    );
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}

const values = (data: ArrayLike<number | bigint>) => Array.from(data, (v) => (typeof v === 'bigint' ? v : Number(v)));

function assertSame(got: WireTensor, want: OrtTensor, what: string, tolerance = 0): void {
  assert.is(got.dtype, want.type, `${what} dtype`);
  assert.equal(got.shape, [...want.dims], `${what} shape`);
  const a = values(got.data as ArrayLike<number | bigint>);
  const b = values(want.data as ArrayLike<number | bigint>);
  if (tolerance === 0) {
    assert.equal(a, b, `${what} values`);
    return;
  }
  a.forEach((v, i) =>
    assert.ok(Math.abs(Number(v) - Number(b[i])) <= tolerance * Math.max(1, Math.abs(Number(b[i]))), `${what}[${i}]`),
  );
}

const image = (batch: number, size: number, seed = 0) => ({
  image: {
    dtype: 'float32' as const,
    shape: [batch, 3, size, size],
    data: new Float32Array(batch * 3 * size * size).map((_, i) => Math.sin(i + seed)),
  },
});

const engine = suite('onnx engine: a registry-only install runs models on the CPU provider');

engine('onnxruntime-node loads and runs a model on the CPU provider (fails, never skips, without it)', async () => {
  const ort = await loadOrt();
  assert.ok(
    ort.listSupportedBackends().some((b) => b.name === 'cpu'),
    'the CPU provider is in the build',
  );
  const out = await reference(ort, models.conv, image(1, 16));
  assert.equal([...out.features.dims], [1, 8]);
  assert.ok(Array.from(out.features.data as Float32Array).some((v) => v !== 0));
});

engine("served outputs equal onnxruntime's own run(), request by request and coalesced", async () => {
  const ort = await loadOrt();
  const server = await createServer({
    tokens: 2,
    sessions: [
      { name: 'conv', model: models.conv, maxBatch: 4, batchWindowUs: 20_000 },
      { name: 'two', model: models.two },
      { name: 'ids', model: models.ids },
      { name: 'external', model: join(models.dir, 'external') },
      { name: 'narrow', model: models.narrow },
    ],
  });
  try {
    const requests = [0, 1, 2].map((seed) => image(1, 16, seed));
    const answers = await Promise.all(requests.map((inputs) => server.infer('conv', inputs)));
    assert.ok(server.stats().sessions[0].batches < 3 + 4, 'requests coalesced into fewer runs');
    for (const [i, inputs] of requests.entries())
      assertSame(answers[i].features, (await reference(ort, models.conv, inputs)).features, `conv ${i}`);
    const two = {
      a: { dtype: 'float32' as const, shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6]) },
      n: { dtype: 'int32' as const, shape: [2, 3], data: new Int32Array([-1, 0, 7, 8, 9, 10]) },
    };
    const twoOut = await server.infer('two', two);
    const twoRef = await reference(ort, models.two, two);
    assertSame(twoOut.sum, twoRef.sum, 'two.sum');
    assertSame(twoOut.n_squared, twoRef.n_squared, 'two.n_squared');
    const ids = { ids: { dtype: 'int64' as const, shape: [1, 4], data: new BigInt64Array([0n, 3n, 9n, 1n]) } };
    const idsOut = await server.infer('ids', ids);
    const idsRef = await reference(ort, models.ids, ids);
    assertSame(idsOut.rows, idsRef.rows, 'ids.rows');
    assertSame(idsOut.shifted, idsRef.shifted, 'ids.shifted');
    assert.is((idsOut.shifted.data as BigInt64Array)[2], 2n ** 40n + 9n, 'int64 past 2^32 comes back exact');
    const x = { x: { dtype: 'float32' as const, shape: [1, 64], data: new Float32Array(64).map((_, i) => i / 64) } };
    assertSame((await server.infer('external', x)).y, (await reference(ort, models.external, x)).y, 'external');
    const narrow = {
      h: { dtype: 'float16' as const, shape: [1, 2], data: new Uint16Array([0x3c00, 0xc000]) },
      u: { dtype: 'uint8' as const, shape: [1, 2], data: new Uint8Array([7, 255]) },
      b: { dtype: 'bool' as const, shape: [1, 2], data: new Uint8Array([1, 0]) },
    };
    const narrowOut = await server.infer('narrow', narrow);
    const narrowRef = await reference(ort, models.narrow, narrow);
    for (const name of ['h_squared', 'u_float', 'not_b']) assertSame(narrowOut[name], narrowRef[name], name);
  } finally {
    await server.close();
  }
});

engine('the signature comes from the session: names, dtypes, free dimensions as null', async () => {
  const server = await createServer({ sessions: [{ name: 'ids', model: models.ids }] });
  try {
    assert.equal(server.signature('ids'), {
      inputs: [{ name: 'ids', dtype: 'int64', shape: [null, 4] }],
      outputs: [
        { name: 'rows', dtype: 'float32', shape: [null, 4, 5] },
        { name: 'shifted', dtype: 'int64', shape: [null, 4] },
      ],
    });
    const info = server.sessionInfo('ids');
    assert.is(info.backend.name, 'onnxruntime');
    assert.is(info.backend.flags.providers, 'cpu');
    assert.is(info.backend.flags.intraOpThreads, 1);
  } finally {
    await server.close();
  }
});

engine('weights count in memoryBudgetMB: the initializers, inline or external, to the byte', async () => {
  const server = await createServer({ sessions: [{ name: 'external', model: models.external }] });
  try {
    const info = server.sessionInfo('external');
    assert.is(info.weightsMb * 2 ** 20, 64 * 32 * 4);
    assert.ok(info.activationsMbPerItem > 0, 'activations estimated from the probe');
  } finally {
    await server.close();
  }
  await rejectsWith(
    createServer({ memoryBudgetMB: 0.001, sessions: [{ name: 'external', model: models.external }] }),
    ErrorCode.RESOURCE_EXHAUSTED,
    'memoryBudgetMB',
  );
});

engine('a TF.js-only server never loads onnxruntime; an ONNX one does, and exits on its own once closed', async () => {
  const fixture = new URL('./fixtures/engine-isolation.ts', import.meta.url).pathname;
  const report = (...args: string[]) =>
    new Promise<{ onnxruntimeMapped: boolean }>((resolve, reject) =>
      execFile(process.execPath, ['--import', 'tsx', fixture, ...args], { timeout: 60_000 }, (error, stdout, stderr) =>
        error
          ? reject(new Error(`${error.message}\n${stderr}`))
          : resolve(JSON.parse(stdout.trim().split('\n').pop()!)),
      ),
    );
  assert.is((await report('tfjs')).onnxruntimeMapped, false);
  assert.is((await report('onnx', models.conv)).onnxruntimeMapped, true);
});

engine('an ONNX session thread that dies fails only its requests, restarts, and serves again', async () => {
  const server = await createServer({ sessions: [{ name: 'conv', model: models.conv }] });
  try {
    await server.killSessionThread('conv');
    // The crash is seen on the exit event, after the kill resolves: wait for the restart, then for readiness.
    const row = () => server.stats().sessions[0];
    while (row().restarts === 0 || row().state !== 'ready') await new Promise((resolve) => setTimeout(resolve, 10));
    assert.is(row().restarts, 1);
    assert.equal((await server.infer('conv', image(1, 16))).features.shape, [1, 8]);
  } finally {
    await server.close();
  }
});

engine('a model given by http(s) URL loads as one on disk', async () => {
  const bytes = readFileSync(models.conv);
  const files = createHttpServer((_request, response) => response.end(bytes));
  await new Promise<void>((resolve) => files.listen(0, '127.0.0.1', resolve));
  const { port } = files.address() as AddressInfo;
  try {
    const server = await createServer({ sessions: [{ name: 'u', model: `http://127.0.0.1:${port}/conv.onnx` }] });
    try {
      assert.equal((await server.infer('u', image(1, 16))).features.shape, [1, 8]);
    } finally {
      await server.close();
    }
  } finally {
    files.close();
  }
});

const refusals = suite('onnx engine: what cannot serve is refused with a typed error');

refusals('a fixed batch axis with maxBatch > 1 is INVALID_CONFIG naming maxBatch', async () => {
  const error = await rejectsWith(
    createServer({ sessions: [{ name: 'f', model: models.fixed, maxBatch: 2 }] }),
    ErrorCode.INVALID_CONFIG,
    'sessions[0].maxBatch',
  );
  assert.match(error.message, 'fixed batch');
  const server = await createServer({ sessions: [{ name: 'f', model: models.fixed }] });
  await server.close();
});

refusals('a rank-0 input: maxBatch > 1 is INVALID_CONFIG, and a request over maxBatch is not cut', async () => {
  const error = await rejectsWith(
    createServer({ sessions: [{ name: 's', model: models.scaled, maxBatch: 2 }] }),
    ErrorCode.INVALID_CONFIG,
    'sessions[0].maxBatch',
  );
  assert.match(error.message, 'input s carries no batch');
  const server = await createServer({ sessions: [{ name: 's', model: models.scaled, maxBatch: 1 }] });
  try {
    const s = { dtype: 'float32' as const, shape: [], data: new Float32Array([3]) };
    const x = (rows: number) => ({
      dtype: 'float32' as const,
      shape: [rows, 2],
      data: new Float32Array(rows * 2).fill(2),
    });
    const refused = await rejectsWith(server.infer('s', { x: x(3), s }), ErrorCode.INVALID_ARGUMENT, 'inputs.x.shape');
    assert.match(refused.message, '3 items, more than the model');
    assert.equal(values((await server.infer('s', { x: x(1), s })).y.data), [6, 6]);
  } finally {
    await server.close();
  }
});

refusals('a provider the build lacks, or whose libraries are missing, is BACKEND_UNAVAILABLE naming it', async () => {
  const missing = await rejectsWith(
    createServer({ sessions: [{ name: 'c', model: models.conv, executionProviders: ['nosuch'] }] }),
    ErrorCode.BACKEND_UNAVAILABLE,
    'sessions[0].executionProviders[0]',
  );
  assert.match(missing.message, 'nosuch');
  const cuda = await rejectsWith(
    createServer({ tokens: 1, sessions: [{ name: 'c', model: models.conv, executionProviders: ['cuda', 'cpu'] }] }),
    ErrorCode.BACKEND_UNAVAILABLE,
    'sessions[0].executionProviders[0]',
  );
  assert.match(cuda.message, 'cuda');
});

refusals('a GPU provider needs the arbiter with one token; ONNX-only keys on a TF.js model are refused', async () => {
  await rejectsWith(
    createServer({ tokens: 3, sessions: [{ name: 'g', model: models.conv, executionProviders: ['webgpu'] }] }),
    ErrorCode.INVALID_CONFIG,
    'sessions[0].executionProviders[0]',
  );
  await rejectsWith(
    createServer({ arbiter: false, sessions: [{ name: 'g', model: models.conv, executionProviders: ['webgpu'] }] }),
    ErrorCode.INVALID_CONFIG,
    'sessions[0].executionProviders[0]',
  );
  await rejectsWith(
    createServer({ sessions: [{ name: 't', model: 'zoo:alexnet', segmentMs: 2 }] }),
    ErrorCode.INVALID_CONFIG,
    'sessions[0].segmentMs',
  );
  await rejectsWith(
    createServer({ sessions: [{ name: 'c', model: models.conv, executionProviders: [] }] }),
    ErrorCode.INVALID_CONFIG,
    'sessions[0].executionProviders',
  );
});

refusals(
  'files that are not ONNX models, or miss their external data, are MODEL_LOAD_FAILED naming the model',
  async () => {
    const junk = join(models.dir, 'junk.onnx');
    writeFileSync(junk, 'this is not a protobuf');
    const error = await rejectsWith(
      createServer({ sessions: [{ name: 'j', model: junk }] }),
      ErrorCode.MODEL_LOAD_FAILED,
      'sessions[0].model',
    );
    assert.match(error.message, junk);
    await rejectsWith(
      createServer({ sessions: [{ name: 'm', model: join(models.dir, 'absent.onnx') }] }),
      ErrorCode.MODEL_LOAD_FAILED,
      'sessions[0].model',
    );
    const data = join(models.dir, 'external', 'model.onnx.data');
    const bytes = readFileSync(data);
    unlinkSync(data);
    try {
      const lost = await rejectsWith(
        createServer({ sessions: [{ name: 'e', model: models.external }] }),
        ErrorCode.MODEL_LOAD_FAILED,
        'sessions[0].model',
      );
      assert.match(lost.message, 'model.onnx.data');
    } finally {
      writeFileSync(data, bytes);
    }
  },
);

const accounting = suite('onnx engine: accounting and segments');

// The last suite of the file: the fixtures go with it.
accounting.after(() => rmSync(models.dir, { recursive: true, force: true }));

accounting("charges exactly the profile's a + b·batch with accounting: 'predicted'", async () => {
  const out = join(models.dir, 'profiles');
  const { profile } = await profileOnnx({ model: models.conv, batches: [1, 2], runs: 2, warmupRuns: 1, out });
  const arbiter = new DeviceArbiter({ quantumMs: 1 });
  const session = await Session.start(arbiter, {
    name: 'p',
    model: models.conv,
    accounting: 'predicted',
    profile: out,
    maxBatch: 3,
  });
  try {
    assert.is(session.info.accounting, 'predicted', session.info.accountingNote);
    for (const batch of [1, 3]) {
      const before = arbiter.stats().sessions[0].chargedMs;
      await session.infer(image(batch, 16));
      const charged = arbiter.stats().sessions[0].chargedMs - before;
      const want = Math.max(0, profile.fit.aMs + profile.fit.bMs * batch);
      assert.ok(Math.abs(charged - want) < 1e-9 * Math.max(1, want), `batch ${batch}: ${charged} vs ${want}`);
    }
  } finally {
    await session.close();
    arbiter.close();
  }
});

accounting('olympian profile learns an ONNX model: a + b·batch over the batches given', async () => {
  const out = join(models.dir, 'cli-profiles');
  const cli = new URL('../src/cli.ts', import.meta.url).pathname;
  const stdout = await new Promise<string>((resolve, reject) =>
    execFile(
      process.execPath,
      ['--import', 'tsx', cli, 'profile', models.two, '--batch', '1,2', '--runs', '2', '--out', out],
      { timeout: 60_000 },
      (error, output, stderr) => (error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(output)),
    ),
  );
  const path = stdout.match(/wrote (\S+)/)?.[1];
  assert.ok(path, stdout);
  const profile = JSON.parse(readFileSync(path!, 'utf8'));
  assert.is(profile.schema, 'olympian-onnx-profile/1');
  assert.equal(
    profile.batches.map((b: { batch: number }) => b.batch),
    [1, 2],
  );
  assert.ok(profile.fit.bMs >= 0);
});

accounting('without a profile, predicted accounting measures and says why', async () => {
  const arbiter = new DeviceArbiter();
  const session = await Session.start(arbiter, {
    name: 'p',
    model: models.two,
    accounting: 'predicted',
    profile: join(models.dir, 'no-profiles'),
  });
  try {
    assert.is(session.info.accounting, 'measured');
    assert.match(session.info.accountingNote, 'no profile');
  } finally {
    await session.close();
    arbiter.close();
  }
});

accounting('a split model runs segment by segment, yields between them, and answers as the whole one', async () => {
  const ort = await loadOrt();
  const arbiter = new DeviceArbiter({ quantumMs: 0.01 });
  const split = await Session.start(arbiter, { name: 'split', model: models.deep, segmentMs: 0.05, maxBatch: 2 });
  try {
    assert.ok(split.info.kernelsPerInference >= 2, `${split.info.kernelsPerInference} segments`);
    for (const batch of [1, 2]) {
      const inputs = image(batch, 32, batch);
      const want = await reference(ort, models.deep, inputs); // first: a session takes (detaches) its inputs
      const before = arbiter.stats().sessions[0].grants;
      const got = await split.infer(inputs);
      assertSame(got.features, want.features, `batch ${batch}`, 1e-5);
      assert.ok(arbiter.stats().sessions[0].grants >= before + 1);
    }
    const stats = split.stats();
    assert.is(stats.kernels, 2 * split.info.kernelsPerInference, 'one charge per segment per run');
  } finally {
    await split.close();
    arbiter.close();
  }
});

engine.run();
refusals.run();
accounting.run();
