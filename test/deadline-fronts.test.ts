/**
 * The `deadline` policy and predicted admission through every front: a request predicted late is refused
 * with DEADLINE_EXCEEDED (HTTP 504 on TF-Serving REST and KServe, gRPC DEADLINE_EXCEEDED on both services,
 * the code kept over RPC), counted as shed in stats and /metrics; one with room is answered. The model's
 * `deadlineMs` (1 µs) makes every request without a deadline of its own predicted late once one answer has
 * been measured (no answer comes back within 1 µs of its arrival). Also: the admin route and olympian.json.
 */
import * as grpc from '@grpc/grpc-js';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { validateServeConfig } from '../src/http/config-file.js';
import type { HttpServer } from '../src/http/http-server.js';
import type { OlympianError } from '../src/protocol/errors.js';
import { connectClient } from '../src/protocol/client.js';
import { connect, unary, type Clients } from './fixtures/grpc/client.js';
import { call, get, imageRows, post, startTest, tinyModel } from './fixtures/http/helpers.js';

const token = 'test-admin-token-0123456789';
const roomy = { 'x-olympian-deadline-ms': '60000' };
let http: HttpServer;
let c: Clients;

const shed = () => http.server.stats().sessions.find((s) => s.name.startsWith('m'))!.deadlines.shed;
const rest = (headers: Record<string, string> = {}) =>
  post(`${http.url}/v1/models/m:predict`, { instances: [imageRows(16)] }, headers);
const values = () => new Array(16 * 16 * 3).fill(0).map((_, i) => Math.sin(i));
const kserve = (headers: Record<string, string> = {}) =>
  post(
    `${http.url}/v2/models/m/infer`,
    { inputs: [{ name: 'image', datatype: 'FP32', shape: [1, 16, 16, 3], data: values() }] },
    headers,
  );
const raw = () => Buffer.from(new Float32Array(values()).buffer);
const dims = (shape: number[]) => ({ dim: shape.map((size) => ({ size })) });
const grpcKserve = (metadata: Record<string, string> = {}) =>
  unary(
    c.inference,
    'ModelInfer',
    {
      model_name: 'm',
      inputs: [{ name: 'image', datatype: 'FP32', shape: [1, 16, 16, 3] }],
      raw_input_contents: [raw()],
    },
    { metadata },
  );
const grpcTfs = (metadata: Record<string, string> = {}) =>
  unary(
    c.prediction,
    'Predict',
    {
      model_spec: { name: 'm' },
      inputs: { image: { dtype: 'DT_FLOAT', tensor_shape: dims([1, 16, 16, 3]), tensor_content: raw() } },
    },
    { metadata },
  );

const fronts = suite('deadline admission through every front');
fronts.before(async () => {
  http = await startTest({
    grpcPort: 0,
    adminToken: token,
    server: { policy: 'deadline' },
    models: [tinyModel('m', {}, { deadlineMs: 0.001 })],
  });
  c = connect(http.grpc!.target);
  // One answer measured: from here on every prediction is at least one request's measured time.
  assert.is((await rest(roomy)).status, 200);
});
fronts.after(async () => {
  c.close();
  await http.close();
});

fronts('HTTP: 504 DEADLINE_EXCEEDED on TF-Serving REST and KServe, 200 with room', async () => {
  const before = shed();
  for (const answer of [await rest(), await kserve()]) {
    assert.is(answer.status, 504, JSON.stringify(answer.body));
    assert.is(answer.body.code, 'DEADLINE_EXCEEDED');
    assert.match(answer.body.error, /refused: predicted/);
  }
  assert.is((await kserve(roomy)).status, 200);
  assert.is(shed() - before, 2);
});

fronts('gRPC: DEADLINE_EXCEEDED on KServe and TF-Serving, OK with a roomy deadline', async () => {
  const before = shed();
  for (const outcome of [await grpcKserve(), await grpcTfs()]) {
    assert.is(outcome.error?.code, grpc.status.DEADLINE_EXCEEDED, outcome.error?.message);
    assert.match(outcome.error!.details, /refused: predicted/);
  }
  const ok = await grpcKserve(roomy);
  assert.is(ok.error, undefined, ok.error?.message);
  assert.is(shed() - before, 2);
});

fronts('RPC: the code comes back over the port', async () => {
  const client = connectClient(http.server.connect());
  try {
    const before = shed();
    const input = { image: { dtype: 'float32' as const, shape: [1, 16, 16, 3], data: new Float32Array(values()) } };
    const session = http.server.stats().sessions[0].name;
    await client.infer(session, input).then(
      () => assert.unreachable('refused'),
      (error: OlympianError) => assert.is(error.code, 'DEADLINE_EXCEEDED'),
    );
    const answer = await client.infer(session, input, { deadlineMs: 60_000 });
    assert.equal(answer.logits.shape, [1, 10]);
    assert.is(shed() - before, 1);
  } finally {
    client.close();
  }
});

fronts('/metrics counts outcomes per model and the prediction error', async () => {
  const body = (await get(`${http.url}/metrics`, { authorization: `Bearer ${token}` })).body as string;
  assert.match(body, /olympian_deadline_requests_total\{model="m",outcome="shed"\} [1-9]/);
  assert.match(body, /olympian_deadline_requests_total\{model="m",outcome="on_time"\} [1-9]/);
  assert.match(body, /olympian_admission_prediction_error_seconds_count\{model="m"\} [1-9]/);
});

fronts('the admin route selects deadline and refuses a policy it does not know, naming the field', async () => {
  const auth = { authorization: `Bearer ${token}` };
  const patch = (json: unknown) => call(`${http.url}/admin/arbiter`, { method: 'PATCH', json, headers: auth });
  assert.equal((await patch({ policy: 'fair' })).body.policy, 'fair');
  assert.is(http.server.stats().admission, 'start');
  assert.equal((await patch({ policy: 'deadline' })).body.policy, 'deadline');
  assert.is(http.server.stats().admission, 'predicted');
  const bad = await patch({ policy: 'edf' });
  assert.equal([bad.status, bad.body.code, bad.body.field], [400, 'INVALID_ARGUMENT', 'policy']);
  assert.is(http.server.stats().policy, 'deadline');
});

fronts('the admin route sets the lag bound at run time, and refuses one that is not a count of quanta', async () => {
  const auth = { authorization: `Bearer ${token}` };
  const patch = (json: unknown) => call(`${http.url}/admin/arbiter`, { method: 'PATCH', json, headers: auth });
  assert.is((await patch({ lagQuanta: 12 })).body.lagQuanta, 12);
  assert.is(http.server.stats().lagQuanta, 12);
  for (const lagQuanta of [-1, 2.5, '3']) {
    const bad = await patch({ lagQuanta });
    assert.equal([bad.status, bad.body.code, bad.body.field], [400, 'INVALID_ARGUMENT', 'lagQuanta']);
  }
  // A refused change leaves every setting as it was, even one named beside it.
  assert.is((await patch({ policy: 'fair', lagQuanta: -1 })).status, 400);
  assert.equal([http.server.stats().policy, http.server.stats().lagQuanta], ['deadline', 12]);
  http.server.setLagQuanta(4);
  assert.is(http.server.stats().lagQuanta, 4);
});

fronts.run();

const file = suite('olympian.json: deadline keys');

file('takes policy deadline, lagQuanta, admission and a model deadlineMs', async () => {
  const options = await validateServeConfig(
    {
      policy: 'deadline',
      lagQuanta: 8,
      admission: 'start',
      models: [{ name: 'm', model: 'zoo:mobilenet_v2@32', deadlineMs: 50 }],
    },
    '/tmp',
  );
  assert.equal(
    [options.server?.policy, options.server?.lagQuanta, options.server?.admission],
    ['deadline', 8, 'start'],
  );
  assert.is(options.models[0].deadlineMs, 50);
});

file('a bad value names its key', async () => {
  const models = [{ name: 'm', model: 'zoo:mobilenet_v2@32' }];
  const cases: Array<[object, string]> = [
    [{ models: [{ ...models[0], deadlineMs: 0 }] }, 'models[0].deadlineMs'],
    [{ models: [{ ...models[0], deadlineMs: 'soon' }] }, 'models[0].deadlineMs'],
    [{ models, admission: 'never' }, 'admission'],
    [{ models, lagQuanta: -2 }, 'lagQuanta'],
    [{ models, policy: 'edf' }, 'policy'],
  ];
  for (const [config, field] of cases) {
    const error = (await validateServeConfig(config, '/tmp').catch((e) => e)) as OlympianError;
    assert.is(error.code, 'INVALID_CONFIG', field);
    assert.is(error.field, field);
  }
});

file.run();
