/**
 * Every status the gRPC front answers with, each carrying google.rpc.Status details (ErrorInfo with
 * olympian's code, BadRequest naming the field for a request at fault), and the per-call semantics: the
 * call's deadline, cancellation, priority from metadata and from KServe's parameters. `slow` takes tens of ms
 * per request, so a few requests keep its queue busy.
 */
import * as grpc from '@grpc/grpc-js';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { HttpServer } from '../src/http/http-server.js';
import { sleep } from './helpers-server.js';
import { connect, errorDetails, unary, type CallOptions, type Clients, type Outcome } from './fixtures/grpc/client.js';
import { get, startTest, tinyModel, tinyModule } from './fixtures/http/helpers.js';

const throwingModule = new URL('./fixtures/grpc/models.ts', import.meta.url).href;
const slowOptions = { inputSize: 32, channels: 96, layers: 8 };
let http: HttpServer;
let c: Clients;

const image = (size: number, first = 0.5) => {
  const data = new Float32Array(size * size * 3).fill(0.25);
  data[0] = first;
  return Buffer.from(data.buffer);
};
const rawInfer = (model: string, size = 16, first = 0.5, extra: object = {}) => ({
  model_name: model,
  inputs: [{ name: 'image', datatype: 'FP32', shape: [1, size, size, 3] }],
  raw_input_contents: [image(size, first)],
  ...extra,
});
const slowCall = (options: CallOptions = {}, extra: object = {}) =>
  unary(c.inference, 'ModelInfer', rawInfer('slow', 32, 0.5, extra), options);

const row = (name: string) => http.server.stats().sessions.find((s) => s.name === name)!;

async function waitFor(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeoutMs) assert.unreachable('timed out waiting');
    await sleep(2);
  }
}

/** The call failed with `status`, and its details say `reason` and (for a request at fault) `field`. */
function failed(outcome: Outcome, status: grpc.status, reason: string, field?: string): void {
  assert.ok(outcome.error, `expected ${grpc.status[status]}, got an answer`);
  assert.is(outcome.error!.code, status, `${grpc.status[outcome.error!.code]}: ${outcome.error!.details}`);
  const details = errorDetails(outcome.error!);
  assert.ok(details, 'grpc-status-details-bin is there');
  assert.is(details!.code, status);
  assert.is(details!.domain, 'olympian');
  assert.is(details!.reason, reason);
  if (field !== undefined) {
    assert.is(details!.metadata.field, field);
    assert.equal(
      details!.violations.map((v) => v.field),
      [field],
    );
    assert.is(details!.violations[0].description, outcome.error!.details);
  }
}

const errors = suite('gRPC errors: status codes and rich details');
errors.before(async () => {
  http = await startTest({
    grpcPort: 0,
    server: { maxRequestBytes: 32 * 1024 },
    limits: { bodyBytes: 256 * 1024 },
    models: [
      tinyModel('m'),
      tinyModel('slow', slowOptions),
      tinyModel('slowq', slowOptions, { maxQueue: 0 }),
      { name: 'crashy', model: { module: tinyModule, exportName: 'createCrashyModel' } },
      { name: 'buggy', model: { module: throwingModule, exportName: 'createThrowingModel' } },
    ],
  });
  c = connect(http.grpc!.target);
});
errors.after(async () => {
  c.close();
  await http.close();
});

errors(
  'INVALID_ARGUMENT names the field: contents, raw contents, both at once, names, datatypes, metadata, parameters',
  async () => {
    const typed = (contents: object, datatype = 'FP32', name = 'image') => ({
      model_name: 'm',
      inputs: [{ name, datatype, shape: [1, 16, 16, 3], contents }],
    });
    failed(
      await unary(c.inference, 'ModelInfer', typed({ fp32_contents: [1, 2] })),
      grpc.status.INVALID_ARGUMENT,
      'INVALID_ARGUMENT',
      'inputs[0].contents.fp32_contents',
    );
    failed(
      await unary(c.inference, 'ModelInfer', typed({ int_contents: [1] })),
      grpc.status.INVALID_ARGUMENT,
      'INVALID_ARGUMENT',
      'inputs[0].contents.int_contents',
    );
    failed(
      await unary(c.inference, 'ModelInfer', typed({}, 'STRING')),
      grpc.status.INVALID_ARGUMENT,
      'INVALID_ARGUMENT',
      'inputs[0].datatype',
    );
    failed(
      await unary(c.inference, 'ModelInfer', typed({ fp32_contents: new Array(768).fill(0) }, 'FP32', 'img')),
      grpc.status.INVALID_ARGUMENT,
      'INVALID_ARGUMENT',
      'inputs[0].name',
    );
    const both = { ...typed({ fp32_contents: new Array(768).fill(0) }), raw_input_contents: [image(16)] };
    failed(
      await unary(c.inference, 'ModelInfer', both),
      grpc.status.INVALID_ARGUMENT,
      'INVALID_ARGUMENT',
      'inputs[0].contents',
    );
    failed(
      await unary(c.inference, 'ModelInfer', { ...rawInfer('m'), raw_input_contents: [Buffer.alloc(12)] }),
      grpc.status.INVALID_ARGUMENT,
      'INVALID_ARGUMENT',
      'raw_input_contents[0]',
    );
    failed(
      await unary(c.inference, 'ModelInfer', rawInfer('m', 8)),
      grpc.status.INVALID_ARGUMENT,
      'INVALID_ARGUMENT',
      'inputs.image.shape',
    );
    failed(
      await unary(c.inference, 'ModelInfer', rawInfer('m'), { metadata: { 'x-olympian-priority': 'high' } }),
      grpc.status.INVALID_ARGUMENT,
      'INVALID_ARGUMENT',
      'x-olympian-priority',
    );
    failed(
      await unary(
        c.inference,
        'ModelInfer',
        rawInfer('m', 16, 0.5, { parameters: { priority: { string_param: 'high' } } }),
      ),
      grpc.status.INVALID_ARGUMENT,
      'INVALID_ARGUMENT',
      'parameters.priority',
    );
    const tf = (inputs: object, spec: object = {}) =>
      unary(c.prediction, 'Predict', { model_spec: { name: 'm', ...spec }, inputs });
    failed(
      await tf({ image: { dtype: 'DT_STRING', tensor_shape: { dim: [{ size: 1 }] } } }),
      grpc.status.INVALID_ARGUMENT,
      'INVALID_ARGUMENT',
      'inputs.image.dtype',
    );
    failed(
      await tf({ image: { dtype: 'DT_FLOAT', tensor_shape: { dim: [{ size: 1 }, { size: -1 }] } } }),
      grpc.status.INVALID_ARGUMENT,
      'INVALID_ARGUMENT',
      'inputs.image.tensor_shape.dim[1]',
    );
    failed(
      await tf({
        image: {
          dtype: 'DT_FLOAT',
          tensor_shape: { dim: [{ size: 2 }] },
          float_val: [1, 2],
          tensor_content: Buffer.alloc(8),
        },
      }),
      grpc.status.INVALID_ARGUMENT,
      'INVALID_ARGUMENT',
      'inputs.image.float_val',
    );
    failed(
      await tf({ picture: { dtype: 'DT_FLOAT', float_val: [1] } }),
      grpc.status.INVALID_ARGUMENT,
      'INVALID_ARGUMENT',
      'inputs.picture',
    );
    failed(
      await tf({}, { signature_name: 'classify' }),
      grpc.status.INVALID_ARGUMENT,
      'INVALID_ARGUMENT',
      'model_spec.signature_name',
    );
    failed(
      await unary(c.prediction, 'GetModelMetadata', { model_spec: { name: 'm' }, metadata_field: ['graph'] }),
      grpc.status.INVALID_ARGUMENT,
      'INVALID_ARGUMENT',
      'metadata_field[0]',
    );
  },
);

errors('a message that does not decode is INVALID_ARGUMENT (field request), not an INTERNAL error', async () => {
  const client = new grpc.Client(http.grpc!.target, grpc.credentials.createInsecure());
  const outcome = await new Promise<Outcome>((resolve) => {
    client.makeUnaryRequest(
      '/inference.GRPCInferenceService/ModelInfer',
      (b: Buffer) => b,
      (b: Buffer) => b,
      Buffer.from([0x0a, 0xff, 0xff, 0xff]),
      (error, response) => resolve(error ? { error } : { response }),
    );
  });
  client.close();
  failed(outcome, grpc.status.INVALID_ARGUMENT, 'INVALID_ARGUMENT', 'request');
});

errors('NOT_FOUND: an unknown model for every call that names one', async () => {
  failed(await unary(c.inference, 'ModelInfer', rawInfer('nope')), grpc.status.NOT_FOUND, 'NOT_FOUND', 'model');
  failed(await unary(c.inference, 'ModelReady', { name: 'nope' }), grpc.status.NOT_FOUND, 'NOT_FOUND', 'model');
  failed(await unary(c.inference, 'ModelMetadata', { name: 'nope' }), grpc.status.NOT_FOUND, 'NOT_FOUND', 'model');
  failed(
    await unary(c.prediction, 'Predict', { model_spec: { name: 'nope' }, inputs: {} }),
    grpc.status.NOT_FOUND,
    'NOT_FOUND',
    'model',
  );
  failed(
    await unary(c.model, 'GetModelStatus', { model_spec: { name: 'nope' } }),
    grpc.status.NOT_FOUND,
    'NOT_FOUND',
    'model',
  );
  failed(
    await unary(c.inference, 'ModelInfer', rawInfer('m', 16, 0.5, { model_version: '4' })),
    grpc.status.NOT_FOUND,
    'NOT_FOUND',
    'version',
  );
  failed(
    await unary(c.prediction, 'Predict', { model_spec: { name: 'm', version_label: 'canary' }, inputs: {} }),
    grpc.status.NOT_FOUND,
    'NOT_FOUND',
    'model_spec.version_label',
  );
});

errors(
  'RESOURCE_EXHAUSTED: QUEUE_FULL and TOO_LARGE told apart by ErrorInfo; a message over bodyBytes is refused by gRPC itself',
  async () => {
    const answers = await Promise.all(
      Array.from({ length: 6 }, () => unary(c.inference, 'ModelInfer', rawInfer('slowq', 32))),
    );
    assert.ok(
      answers.some((a) => !a.error),
      'some ran',
    );
    const full = answers.find((a) => a.error)!;
    failed(full, grpc.status.RESOURCE_EXHAUSTED, 'QUEUE_FULL');
    assert.is(errorDetails(full.error!)!.metadata.model, 'slowq');
    assert.ok(answers.every((a) => !a.error || a.error.code === grpc.status.RESOURCE_EXHAUSTED));
    const eleven = {
      model_name: 'm',
      inputs: [{ name: 'image', datatype: 'FP32', shape: [11, 16, 16, 3] }],
      raw_input_contents: [Buffer.alloc(11 * 16 * 16 * 3 * 4)],
    };
    failed(await unary(c.inference, 'ModelInfer', eleven), grpc.status.RESOURCE_EXHAUSTED, 'TOO_LARGE', 'inputs');
    const huge = await unary(c.inference, 'ModelInfer', {
      ...rawInfer('m'),
      raw_input_contents: [Buffer.alloc(300 * 1024)],
    });
    assert.is(huge.error?.code, grpc.status.RESOURCE_EXHAUSTED);
  },
);

errors(
  'DEADLINE_EXCEEDED: a client deadline shorter than the queue, or a Triton timeout; neither request ever runs',
  async () => {
    const before = row('slow').inferences;
    const busy = Array.from({ length: 5 }, () => slowCall());
    await waitFor(() => row('slow').queueDepth + row('slow').inferences - before >= 2);
    const late = await slowCall({ timeoutMs: 30 });
    assert.is(late.error?.code, grpc.status.DEADLINE_EXCEEDED, late.error?.details);
    failed(
      await slowCall({}, { parameters: { timeout: { int64_param: 1000 } } }),
      grpc.status.DEADLINE_EXCEEDED,
      'DEADLINE_EXCEEDED',
    );
    for (const answer of await Promise.all(busy)) assert.is(answer.error, undefined);
    await sleep(50);
    assert.is(row('slow').inferences - before, 5, 'only the five busy requests ran');
  },
);

errors('CANCELLED: a call the client cancels has its queued inference withdrawn', async () => {
  const before = row('slow');
  const queued = () => row('slow').queueDepth + row('slow').inferences - before.inferences;
  const busy = Array.from({ length: 6 }, () => slowCall());
  await waitFor(() => queued() >= 4);
  let call: grpc.ClientUnaryCall | undefined;
  // The lowest priority: it waits behind all six, so it is surely still queued when it is cancelled.
  const cancelled = slowCall({ metadata: { 'x-olympian-priority': '-1' }, started: (started) => (call = started) });
  await waitFor(() => queued() >= 5);
  call!.cancel();
  assert.is((await cancelled).error?.code, grpc.status.CANCELLED);
  await Promise.all(busy);
  await waitFor(() => (row('slow').errors.CANCELLED ?? 0) > (before.errors.CANCELLED ?? 0));
  assert.is(row('slow').inferences - before.inferences, 6, 'the cancelled request never ran');
  const metrics = (await get(`${http.url}/metrics`)).body as string;
  assert.match(
    metrics,
    /olympian_requests_total\{model="slow",outcome="CANCELLED",protocol="grpc"\} 1/,
    metrics
      .split('\n')
      .filter((l) => l.startsWith('olympian_requests_total'))
      .join('\n'),
  );
  assert.match(metrics, /olympian_requests_total\{model="slow",outcome="ok",protocol="grpc"\} \d+/);
});

errors(
  'priority: x-olympian-priority metadata and the Triton priority parameter overtake queued requests',
  async () => {
    const before = row('slow');
    const queued = () => row('slow').queueDepth + row('slow').inferences - before.inferences;
    // Eight urgent requests keep the session busy for a few hundred ms; the three others wait behind them.
    // Queued plus completed counts requests past the two handed to the thread, whatever has finished meanwhile.
    const busy = Array.from({ length: 8 }, () => slowCall({ metadata: { 'x-olympian-priority': String(2 ** 30) } }));
    await waitFor(() => queued() >= 6);
    const done: string[] = [];
    const plain = slowCall().then((a) => {
      done.push('plain');
      return a;
    });
    await waitFor(() => queued() >= 7);
    const triton = slowCall({}, { parameters: { priority: { uint64_param: 2 } } }).then((a) => {
      done.push('triton level 2');
      return a;
    });
    await waitFor(() => queued() >= 8);
    const metadata = slowCall({ metadata: { 'x-olympian-priority': String(2 ** 30 - 1) } }).then((a) => {
      done.push('metadata');
      return a;
    });
    for (const answer of await Promise.all([plain, triton, metadata, ...busy]))
      assert.is(answer.error, undefined, answer.error?.details);
    assert.equal(done, ['metadata', 'triton level 2', 'plain']);
  },
);

errors(
  'FAILED_PRECONDITION while a model restarts after a crash (which itself is UNAVAILABLE); INTERNAL for a model bug',
  async () => {
    failed(
      await unary(c.inference, 'ModelInfer', rawInfer('crashy', 16, 666)),
      grpc.status.UNAVAILABLE,
      'SESSION_CRASHED',
    );
    let answer = await unary(c.inference, 'ModelInfer', rawInfer('crashy'));
    failed(answer, grpc.status.FAILED_PRECONDITION, 'UNAVAILABLE');
    for (let i = 0; i < 100 && answer.error; i++) {
      await sleep(100);
      answer = await unary(c.inference, 'ModelInfer', rawInfer('crashy'));
    }
    assert.is(answer.error, undefined, 'it serves again once restarted');
    failed(await unary(c.inference, 'ModelInfer', rawInfer('buggy', 16, 13)), grpc.status.INTERNAL, 'INTERNAL');
    assert.is(
      (await unary(c.inference, 'ModelInfer', rawInfer('buggy'))).error,
      undefined,
      'and the model keeps serving',
    );
  },
);

const closing = suite('gRPC while the server closes');

closing('UNAVAILABLE for new calls, readiness false at once, calls already received answered', async () => {
  const server = await startTest({ grpcPort: 0, models: [tinyModel('slow', slowOptions)] });
  const client = connect(server.grpc!.target);
  try {
    const inFlight = Array.from({ length: 4 }, () => unary(client.inference, 'ModelInfer', rawInfer('slow', 32)));
    await waitFor(() => server.server.stats().sessions[0].queueDepth >= 2);
    const closed = server.close();
    const late = await unary(client.inference, 'ModelInfer', rawInfer('slow', 32));
    failed(late, grpc.status.UNAVAILABLE, 'UNAVAILABLE');
    assert.equal((await unary(client.inference, 'ServerReady', {})).response, { ready: false });
    assert.equal((await unary(client.health, 'Check', { service: '' })).response, { status: 'NOT_SERVING' });
    assert.equal((await unary(client.inference, 'ServerLive', {})).response, { live: true });
    for (const answer of await Promise.all(inFlight)) assert.is(answer.error, undefined, answer.error?.details);
    await closed;
  } finally {
    client.close();
    await server.close({ drain: false });
  }
});

errors.run();
closing.run();
