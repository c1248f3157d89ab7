/**
 * Budgets through the fronts: a model over its device-time budget is 429 QUOTA_EXCEEDED with Retry-After on
 * TF-Serving REST and KServe, RESOURCE_EXHAUSTED with ErrorInfo and RetryInfo on gRPC, and counted in
 * /metrics, while another model is served; the admin route changes and lifts a budget at run time. A budget
 * of 1e-6 ms/s with no burst makes each refusal deterministic: one request puts the model in debt for years.
 */
import { mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '../src/device/tfjs.js';
import type { HttpServer } from '../src/http/http-server.js';
import { fileSystemHandler } from '../src/models/index.js';
import { connect, errorDetails, unary, type Clients } from './fixtures/grpc/client.js';
import { createModel } from './fixtures/tiny-models.js';
import { call, get, imageRows, post, startTest, tinyModel } from './fixtures/http/helpers.js';

const tight = { deviceMsPerSec: 1e-6, burstMs: 0 };
let http: HttpServer;
let c: Clients;

const predict = (model: string) => post(`${http.url}/v1/models/${model}:predict`, { instances: [imageRows()] });
const kserve = (model: string) =>
  post(`${http.url}/v2/models/${model}/infer`, {
    inputs: [{ name: 'image', shape: [1, 16, 16, 3], datatype: 'FP32', data: imageRows().flat(2) }],
  });
const grpcInfer = (model: string) =>
  unary(c.inference, 'ModelInfer', {
    model_name: model,
    inputs: [{ name: 'image', datatype: 'FP32', shape: [1, 16, 16, 3] }],
    raw_input_contents: [Buffer.from(new Float32Array(16 * 16 * 3).fill(0.25).buffer)],
  });
const patch = (model: string, json: unknown) => call(`${http.url}/admin/models/${model}`, { method: 'PATCH', json });

/** 429 QUOTA_EXCEEDED naming the model and `budget`, with Retry-After in whole seconds ≥ 1. */
function overBudget(answer: Awaited<ReturnType<typeof post>>, model: string): void {
  assert.is(answer.status, 429, JSON.stringify(answer.body));
  assert.equal([answer.body.code, answer.body.field, answer.body.model], ['QUOTA_EXCEEDED', 'budget', model]);
  assert.match(answer.body.error, /over its device-time budget/);
  const retryAfter = answer.headers.get('retry-after');
  assert.ok(retryAfter !== null && /^[1-9][0-9]*$/.test(retryAfter), `Retry-After: ${retryAfter}`);
}

const fronts = suite('budgets over HTTP and gRPC');
fronts.before(async () => {
  http = await startTest({
    grpcPort: 0,
    models: [tinyModel('capped', {}, { budget: tight }), tinyModel('free', { seed: 2 })],
  });
  c = connect(http.grpc!.target);
});
fronts.after(async () => {
  c.close();
  await http.close();
});

fronts('TF-Serving REST and KServe: 429 QUOTA_EXCEEDED with Retry-After; the other model is served', async () => {
  assert.is((await predict('capped')).status, 200, 'the first request finds the bucket at 0: admitted');
  overBudget(await predict('capped'), 'capped');
  overBudget(await kserve('capped'), 'capped');
  assert.is((await predict('free')).status, 200);
  assert.is((await kserve('free')).status, 200);
  assert.is((await predict('free')).headers.get('retry-after'), null);
});

fronts('gRPC: RESOURCE_EXHAUSTED whose details hold ErrorInfo QUOTA_EXCEEDED and RetryInfo', async () => {
  const outcome = await grpcInfer('capped');
  assert.ok(outcome.error, 'refused');
  assert.is(outcome.error!.code, grpc.status.RESOURCE_EXHAUSTED);
  const details = errorDetails(outcome.error!)!;
  assert.equal(
    [details.code, details.reason, details.domain],
    [grpc.status.RESOURCE_EXHAUSTED, 'QUOTA_EXCEEDED', 'olympian'],
  );
  assert.equal(details.metadata, { field: 'budget', model: 'capped' });
  assert.equal(details.violations, [], 'not a malformed request: no BadRequest');
  assert.ok(details.retryDelayMs! >= 1, `retry_delay ${details.retryDelayMs} ms`);
  assert.ok((await grpcInfer('free')).response, 'the other model is served');
});

fronts('/metrics counts refusals per model and shows the balance', async () => {
  const refusedBefore = http.server.stats().sessions.find((s) => s.name === 'capped')!.refusedOverBudget;
  overBudget(await predict('capped'), 'capped');
  const text = (await get(`${http.url}/metrics`)).body as string;
  const over = /olympian_requests_over_budget_total\{model="capped"\} (\d+)/.exec(text);
  assert.ok(over, 'the counter is there');
  assert.is(refusedBefore, 3, 'one refusal on each front so far');
  assert.is(Number(over![1]), refusedBefore + 1);
  assert.not.match(text, /olympian_requests_over_budget_total\{model="free"\}/);
  const balance = /olympian_budget_balance_seconds\{model="capped"\} (\S+)/.exec(text);
  assert.ok(balance && Number(balance[1]) < 0, `in debt: ${balance?.[1]}`);
  assert.not.match(text, /olympian_budget_balance_seconds\{model="free"\}/);
});

fronts('the admin route sets a budget (starting full), lifts it with null, and names a bad field', async () => {
  const loose = { deviceMsPerSec: 1000, burstMs: 1000 };
  const set = await patch('capped', { budget: loose });
  assert.equal([set.status, set.body.budget], [200, loose]);
  assert.is((await predict('capped')).status, 200);
  assert.is((await patch('capped', { budget: tight })).status, 200);
  assert.is((await predict('capped')).status, 200);
  overBudget(await predict('capped'), 'capped');
  const lifted = await patch('capped', { budget: null });
  assert.equal([lifted.status, lifted.body.budget], [200, null]);
  assert.is((await predict('capped')).status, 200);
  const stats = await get(`${http.url}/admin/stats`);
  assert.is(stats.body.models.find((m: { name: string }) => m.name === 'capped').budget, null);
  const bad = await patch('free', { weight: 2, budget: { deviceMsPerSec: 5000, burstMs: 1 } });
  assert.equal([bad.status, bad.body.code, bad.body.field], [400, 'INVALID_ARGUMENT', 'budget.deviceMsPerSec']);
  assert.is((await get(`${http.url}/admin/stats`)).body.models[1].weight, 1, 'a bad field changes nothing');
  const typo = await patch('free', { budget: { deviceMsPerSec: 5, burst: 1 } });
  assert.equal([typo.status, typo.body.field], [400, 'budget.burst']);
});

fronts.run();

const versions = suite('budgets across model versions');
const root = mkdtempSync(join(tmpdir(), 'olympian-budget-'));

async function writeVersion(version: number): Promise<void> {
  const staging = join(root, `.staging-${version}`);
  const model = createModel(tf, { seed: version });
  await model.save(fileSystemHandler(staging));
  model.dispose();
  renameSync(staging, join(root, String(version)));
}

versions.before(async () => {
  await writeVersion(1);
  http = await startTest({ models: [{ name: 'versioned', basePath: root, budget: tight }] });
});
versions.after(async () => {
  await http.close();
  rmSync(root, { recursive: true, force: true });
});

versions("a new version keeps the model's budget, starting full; null from the admin lifts it", async () => {
  assert.is((await predict('versioned')).status, 200);
  overBudget(await predict('versioned'), 'versioned');
  await writeVersion(2);
  assert.is((await call(`${http.url}/admin/poll`, { method: 'POST' })).status, 200);
  assert.is((await get(`${http.url}/v1/models/versioned/metadata`)).body.model_spec.version, '2');
  assert.is((await predict('versioned')).status, 200, 'version 2 starts with a full bucket');
  overBudget(await predict('versioned'), 'versioned');
  assert.is((await patch('versioned', { budget: null })).status, 200);
  assert.is((await predict('versioned')).status, 200);
});

versions.run();
