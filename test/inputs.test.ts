import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ErrorCode } from '../src/protocol/errors.js';
import type { NamedTensors } from '../src/protocol/tensors.js';
import { createServer, type Server } from '../src/server/server.js';
import { image, rejectsWith, tinySession } from './helpers-server.js';

const pixels = (fill: (i: number) => number) => Array.from({ length: 16 * 16 * 3 }, (_, i) => fill(i));
const ramp = (i: number) => i % 251;

let server: Server;
let reference: NamedTensors;

const ownership = suite('inputs: the caller keeps its arrays unless it asks to transfer them');
ownership.before(async () => {
  server = await createServer({
    backend: 'wasm',
    sessions: [tinySession('m'), tinySession('b', {}, { maxBatch: 4, batchWindowUs: 20_000 })],
  });
  reference = await server.infer('m', {
    image: { dtype: 'float32', shape: [1, 16, 16, 3], data: Float32Array.from(pixels(ramp)) },
  });
});
ownership.after(async () => server.close());

ownership("infer leaves the caller's array intact: the same input twice gives the same answer", async () => {
  const input = image();
  const before = Array.from(input.image.data as ArrayLike<number>);
  const first = await server.infer('m', input);
  const second = await server.infer('m', input);
  assert.equal(Array.from(input.image.data as ArrayLike<number>), before);
  assert.equal(Array.from(second.logits.data as ArrayLike<number>), Array.from(first.logits.data as ArrayLike<number>));
});

ownership('a subarray is read as itself; its parent array is untouched', async () => {
  const parent = new Float32Array(768 * 3).map((_, i) => Math.cos(i));
  const view = parent.subarray(768, 1536);
  const copy = parent.slice();
  const out = await server.infer('m', { image: { dtype: 'float32', shape: [1, 16, 16, 3], data: view } });
  const want = await server.infer('m', {
    image: { dtype: 'float32', shape: [1, 16, 16, 3], data: copy.slice(768, 1536) },
  });
  assert.equal(Array.from(parent), Array.from(copy));
  assert.equal(Array.from(out.logits.data as ArrayLike<number>), Array.from(want.logits.data as ArrayLike<number>));
});

ownership(
  'transfer: true takes a whole buffer; a later call with it is INVALID_ARGUMENT saying it was transferred',
  async () => {
    const input = image();
    await server.infer('m', input, { transfer: true });
    assert.is(input.image.data.length, 0, "the caller's array is detached");
    const error = await rejectsWith(server.infer('m', input), ErrorCode.INVALID_ARGUMENT, 'inputs.image.data');
    assert.match(error.message, 'transferred');
  },
);

ownership('transfer: true copies a view into part of a buffer, so the parent survives', async () => {
  const parent = new Float32Array(768 * 2).fill(0.5);
  await server.infer(
    'm',
    { image: { dtype: 'float32', shape: [1, 16, 16, 3], data: parent.subarray(768) } },
    { transfer: true },
  );
  assert.is(parent.length, 768 * 2);
  assert.ok(parent.every((v) => v === 0.5));
});

ownership('a refused request detaches nothing, even with transfer: true', async () => {
  const input = image();
  await rejectsWith(
    server.infer('m', input, { transfer: true, deadlineMs: -1 }),
    ErrorCode.INVALID_ARGUMENT,
    'deadlineMs',
  );
  await rejectsWith(
    server.infer('m', { ...input, extra: input.image }, { transfer: true }),
    ErrorCode.INVALID_ARGUMENT,
    'inputs.extra',
  );
  assert.is(input.image.data.length, 768);
});

ownership('one array sent twice at once to a batching session: both answered, nothing crashes', async () => {
  const input = image();
  const [a, b] = await Promise.all([server.infer('b', input), server.infer('b', input)]);
  assert.equal(Array.from(a.logits.data as ArrayLike<number>), Array.from(b.logits.data as ArrayLike<number>));
  const row = server.stats().sessions.find((s) => s.name === 'b')!;
  assert.is(row.restarts, 0);
  assert.is(row.state, 'ready');
});

ownership(
  'the same array twice at once with transfer: true: the first moves it, the second is INVALID_ARGUMENT',
  async () => {
    const input = image();
    const [a, b] = await Promise.allSettled([
      server.infer('b', input, { transfer: true }),
      server.infer('b', input, { transfer: true }),
    ]);
    assert.is(a.status, 'fulfilled');
    assert.is(b.status, 'rejected');
    assert.is((b as PromiseRejectedResult).reason.code, ErrorCode.INVALID_ARGUMENT);
    assert.is(server.stats().sessions.find((s) => s.name === 'b')!.restarts, 0);
  },
);

ownership.run();

const dtypes = suite('inputs: one dtype rule, from the signature');
dtypes.before(async () => {
  server = await createServer({ backend: 'wasm', sessions: [tinySession('m')] });
  reference = await server.infer('m', {
    image: { dtype: 'float32', shape: [1, 16, 16, 3], data: Float32Array.from(pixels(ramp)) },
  });
});
dtypes.after(async () => server.close());

dtypes('narrower integers widen exactly to a float32 input: the same answer as float32', async () => {
  for (const [dtype, Type] of [
    ['uint8', Uint8Array],
    ['int16', Int16Array],
    ['uint16', Uint16Array],
  ] as const) {
    const out = await server.infer('m', { image: { dtype, shape: [1, 16, 16, 3], data: Type.from(pixels(ramp)) } });
    assert.equal(
      Array.from(out.logits.data as ArrayLike<number>),
      Array.from(reference.logits.data as ArrayLike<number>),
      dtype,
    );
  }
  const signed = await server.infer('m', {
    image: { dtype: 'int8', shape: [1, 16, 16, 3], data: Int8Array.from(pixels((i) => (i % 200) - 100)) },
  });
  const want = await server.infer('m', {
    image: { dtype: 'float32', shape: [1, 16, 16, 3], data: Float32Array.from(pixels((i) => (i % 200) - 100)) },
  });
  assert.equal(
    Array.from(signed.logits.data as ArrayLike<number>),
    Array.from(want.logits.data as ArrayLike<number>),
    'int8',
  );
});

dtypes('float64, int32 and bool for a float32 input are refused before any queue, naming the dtype', async () => {
  const before = server.stats().sessions[0].inferences;
  for (const [dtype, Type] of [
    ['float64', Float64Array],
    ['int32', Int32Array],
    ['bool', Uint8Array],
  ] as const) {
    const error = await rejectsWith(
      server.infer('m', { image: { dtype, shape: [1, 16, 16, 3], data: new Type(768) } }),
      ErrorCode.INVALID_ARGUMENT,
      'inputs.image.dtype',
    );
    assert.match(error.message, dtype);
  }
  await rejectsWith(server.infer('m', new Float64Array(768)), ErrorCode.INVALID_ARGUMENT, 'inputs.image.dtype');
  assert.is(server.stats().sessions[0].inferences, before);
});

dtypes('an empty batch, or any dimension of 0, is INVALID_ARGUMENT naming the dimension', async () => {
  await rejectsWith(
    server.infer('m', { image: { dtype: 'float32', shape: [0, 16, 16, 3], data: new Float32Array(0) } }),
    ErrorCode.INVALID_ARGUMENT,
    'inputs.image.shape[0]',
  );
  assert.is(server.stats().sessions[0].restarts, 0);
});

dtypes.run();

const large = suite("inputs: a request larger than the session's batch");

large('a request over maxBatch runs in pieces of maxBatch and is joined: the same numbers as one by one', async () => {
  const s = await createServer({
    backend: 'wasm',
    sessions: [tinySession('p', {}, { maxBatch: 4 }), tinySession('r')],
  });
  try {
    const batch = image(16, (i) => Math.sin(i / 7), 10);
    const before = s.stats().sessions[0].batches;
    const out = await s.infer('p', batch);
    assert.equal(out.logits.shape, [10, 10]);
    assert.is(s.stats().sessions[0].batches - before, 3, '4 + 4 + 2 items');
    for (let row = 0; row < 10; row++) {
      const one = await s.infer('r', {
        image: { dtype: 'float32', shape: [1, 16, 16, 3], data: batch.image.data.slice(row * 768, (row + 1) * 768) },
      });
      (one.logits.data as Float32Array).forEach((v, k) =>
        assert.ok(Math.abs(v - (out.logits.data[row * 10 + k] as number)) < 1e-5, `row ${row}`),
      );
    }
  } finally {
    await s.close();
  }
});

large("without maxBatch, memory admission counts the request's own items against memoryBudgetMB", async () => {
  const s = await createServer({ backend: 'wasm', sessions: [tinySession('a')] });
  const perItemMb = s.sessionInfo('a').activationsMbPerItem;
  const residentMb = s.stats().sessions[0].residentMb;
  await s.close();
  // Room for the model and about 20 more items of activations.
  const budgeted = await createServer({
    backend: 'wasm',
    memoryBudgetMB: residentMb + perItemMb * 20,
    sessions: [tinySession('a')],
  });
  try {
    assert.equal((await budgeted.infer('a', image(16, Math.sin, 8))).logits.shape, [8, 10]);
    const error = await rejectsWith(
      budgeted.infer('a', image(16, Math.sin, 64)),
      ErrorCode.TOO_LARGE,
      'inputs.image.shape[0]',
    );
    assert.match(error.message, 'memoryBudgetMB');
    assert.is(budgeted.stats().sessions[0].inferences, 1);
  } finally {
    await budgeted.close();
  }
});

large.run();
