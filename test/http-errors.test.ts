/**
 * Every error code over real HTTP, each in the one error shape, and the per-request headers (priority,
 * deadline, request id). `slow` takes tens of ms per request, so a few requests keep its queue busy.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { HttpServer } from '../src/http/http-server.js';
import { sleep } from './helpers-server.js';
import { call, get, imageRows, post, startTest, tinyModel, tinyModule, type Answer } from './fixtures/http/helpers.js';

let http: HttpServer;
let url: string;
const slowOptions = { inputSize: 32, channels: 96, layers: 8 };
const slowBody = () => ({ instances: [imageRows(32)] });

const errors = suite('HTTP errors: codes, statuses, one shape');
errors.before(async () => {
  http = await startTest({
    server: { maxRequestBytes: 32 * 1024 },
    limits: { bodyBytes: 256 * 1024, jsonBodyBytes: 256 * 1024 },
    models: [
      tinyModel('m'),
      tinyModel('slow', slowOptions),
      tinyModel('slowq', slowOptions, { maxQueue: 0 }),
      { name: 'crashy', model: { module: tinyModule, exportName: 'createCrashyModel' } },
    ],
  });
  url = http.url;
});
errors.after(async () => http.close());

const slowRow = (name: string) => http.server.stats().sessions.find((s) => s.name === name)!;
const queueDepth = (name: string) => slowRow(name).queueDepth;
const completed = (name: string, before: { inferences: number }) => slowRow(name).inferences - before.inferences;

async function waitFor(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeoutMs) assert.unreachable('timed out waiting');
    await sleep(2);
  }
}

function shape(answer: Answer, status: number, code: string, field?: string): void {
  assert.is(answer.status, status, JSON.stringify(answer.body));
  assert.is(answer.body.code, code);
  assert.type(answer.body.error, 'string');
  assert.is(answer.body.requestId, answer.headers.get('x-request-id'));
  if (field !== undefined) assert.is(answer.body.field, field);
}

errors('400 INVALID_ARGUMENT: malformed JSON, bad shapes and bad headers name the field', async () => {
  shape(
    await call(`${url}/v1/models/m:predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"instances": [',
    }),
    400,
    'INVALID_ARGUMENT',
    'body',
  );
  shape(
    await post(`${url}/v1/models/m:predict`, { instances: [imageRows(8)] }),
    400,
    'INVALID_ARGUMENT',
    'inputs.image.shape',
  );
  shape(
    await post(`${url}/v2/models/m/infer`, { inputs: [{ name: 'img', shape: [1], datatype: 'FP32', data: [1] }] }),
    400,
    'INVALID_ARGUMENT',
    'inputs[0].name',
  );
  shape(
    await post(`${url}/v1/models/m:predict`, { instances: [imageRows()] }, { 'x-olympian-priority': 'high' }),
    400,
    'INVALID_ARGUMENT',
    'x-olympian-priority',
  );
  shape(
    await post(`${url}/v1/models/m:predict`, { instances: [imageRows()] }, { 'x-olympian-deadline-ms': '-5' }),
    400,
    'INVALID_ARGUMENT',
    'x-olympian-deadline-ms',
  );
  const media = await call(`${url}/v1/models/m:predict`, {
    method: 'POST',
    headers: { 'content-type': 'application/xml' },
    body: '<x/>',
  });
  assert.is(media.status, 415);
  assert.is(media.body.code, 'INVALID_ARGUMENT');
});

errors('404 NOT_FOUND: unknown model, version or route', async () => {
  shape(await post(`${url}/v1/models/nope:predict`, { instances: [1] }), 404, 'NOT_FOUND', 'model');
  shape(await post(`${url}/v2/models/nope/infer`, { inputs: [] }), 404, 'NOT_FOUND', 'model');
  shape(await get(`${url}/v2/models/nope`), 404, 'NOT_FOUND', 'model');
  shape(await post(`${url}/v1/models/m/versions/2:predict`, { instances: [imageRows()] }), 404, 'NOT_FOUND', 'version');
  shape(await get(`${url}/v3/anything`), 404, 'NOT_FOUND', 'route');
});

errors('413 TOO_LARGE: a body over the limit, and tensors over maxRequestBytes', async () => {
  const huge = JSON.stringify({ instances: [Array.from({ length: 40_000 }, () => 0.123456)] });
  shape(
    await call(`${url}/v1/models/m:predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: huge,
    }),
    413,
    'TOO_LARGE',
    'body',
  );
  const rows = Array.from({ length: 11 }, () => imageRows());
  shape(await post(`${url}/v1/models/m:predict`, { instances: rows }), 413, 'TOO_LARGE', 'inputs');
});

errors('429 QUEUE_FULL: a session with no queue room refuses at once; nothing else fails', async () => {
  const answers = await Promise.all(
    Array.from({ length: 8 }, () => post(`${url}/v1/models/slowq:predict`, slowBody())),
  );
  const statuses = answers.map((a) => a.status);
  assert.ok(statuses.includes(429), String(statuses));
  assert.ok(statuses.includes(200), String(statuses));
  assert.ok(
    statuses.every((s) => s === 200 || s === 429),
    String(statuses),
  );
  shape(answers.find((a) => a.status === 429)!, 429, 'QUEUE_FULL');
  assert.is(answers.find((a) => a.status === 429)!.body.model, 'slowq');
});

errors('504 DEADLINE_EXCEEDED: x-olympian-deadline-ms passes while queued; the request never runs', async () => {
  const busy = Array.from({ length: 3 }, () => post(`${url}/v1/models/slow:predict`, slowBody()));
  await sleep(5);
  const late = await post(`${url}/v1/models/slow:predict`, slowBody(), { 'x-olympian-deadline-ms': '1' });
  shape(late, 504, 'DEADLINE_EXCEEDED');
  for (const answer of await Promise.all(busy)) assert.is(answer.status, 200);
});

errors('x-olympian-priority: a higher-priority request overtakes queued ones', async () => {
  // Six urgent requests keep the session busy for a few hundred ms; `low` and `high` both wait behind them.
  // Queued plus completed counts requests past the two in flight, whatever has finished meanwhile.
  const before = slowRow('slow');
  const busy = Array.from({ length: 6 }, () =>
    post(`${url}/v1/models/slow:predict`, slowBody(), { 'x-olympian-priority': '10' }),
  );
  await waitFor(() => queueDepth('slow') + completed('slow', before) >= 4);
  const done: string[] = [];
  const low = post(`${url}/v1/models/slow:predict`, slowBody(), { 'x-olympian-priority': '1' }).then((a) => {
    done.push('low');
    return a;
  });
  await waitFor(() => queueDepth('slow') + completed('slow', before) >= 5);
  const high = post(`${url}/v1/models/slow:predict`, slowBody(), { 'x-olympian-priority': '5' }).then((a) => {
    done.push('high');
    return a;
  });
  assert.equal([(await low).status, (await high).status], [200, 200]);
  await Promise.all(busy);
  assert.equal(done, ['high', 'low']);
});

errors('499 CANCELLED: a client that goes away has its queued inference withdrawn', async () => {
  const before = http.server.stats().sessions.find((s) => s.name === 'slow')!;
  const busy = Array.from({ length: 6 }, () => post(`${url}/v1/models/slow:predict`, slowBody()));
  await waitFor(() => queueDepth('slow') + completed('slow', before) >= 4);
  const controller = new AbortController();
  // The lowest priority: it waits behind all six, so it is surely still queued when the client leaves.
  const aborted = fetch(`${url}/v1/models/slow:predict`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-olympian-priority': '-1' },
    body: JSON.stringify(slowBody()),
    signal: controller.signal,
  });
  await waitFor(() => queueDepth('slow') + completed('slow', before) >= 5);
  controller.abort();
  await aborted.catch(() => undefined);
  await Promise.all(busy);
  await waitFor(
    () =>
      (http.server.stats().sessions.find((s) => s.name === 'slow')!.errors.CANCELLED ?? 0) >
      (before.errors.CANCELLED ?? 0),
  );
  const metrics = (await get(`${url}/metrics`)).body as string;
  assert.match(metrics, /olympian_requests_total\{model="slow",outcome="CANCELLED",protocol="http"\} 1/);
});

errors('503 SESSION_CRASHED when the model thread dies, then it serves again after its restart', async () => {
  const poison = imageRows(16, (i) => (i === 0 ? 666 : 0));
  shape(await post(`${url}/v1/models/crashy:predict`, { instances: [poison] }), 503, 'SESSION_CRASHED');
  let answer = await post(`${url}/v1/models/crashy:predict`, { instances: [imageRows()] });
  for (let i = 0; i < 100 && answer.status === 503; i++) {
    assert.is(answer.body.code, 'UNAVAILABLE', 'while it restarts');
    await sleep(100);
    answer = await post(`${url}/v1/models/crashy:predict`, { instances: [imageRows()] });
  }
  assert.is(answer.status, 200);
});

errors("request ids: a client's x-request-id is echoed, an unusable one replaced, one made when absent", async () => {
  const mine = await get(`${url}/v2/health/live`, { 'x-request-id': 'client-abc.123' });
  assert.is(mine.headers.get('x-request-id'), 'client-abc.123');
  const bad = await get(`${url}/v2/health/live`, { 'x-request-id': 'has spaces; and "quotes"' });
  assert.match(bad.headers.get('x-request-id')!, /^[0-9a-f-]{36}$/);
  const error = await post(`${url}/v1/models/nope:predict`, {}, { 'x-request-id': 'trace-7' });
  assert.is(error.body.requestId, 'trace-7');
});

errors.run();
