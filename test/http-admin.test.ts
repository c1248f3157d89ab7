/** Admin routes behind the bearer token, /metrics, structured logs with request ids, bind rules and TLS. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { kDefaultLagQuanta } from '../src/arbiter/validate.js';
import { validateHttpOptions, type HttpServer } from '../src/http/http-server.js';
import type { OlympianError } from '../src/protocol/errors.js';
import { call, get, imageRows, post, startTest, tinyModel } from './fixtures/http/helpers.js';

const token = 'test-admin-token-0123456789';
const auth = { authorization: `Bearer ${token}` };
const logLines: Array<Record<string, unknown>> = [];
let http: HttpServer;
let url: string;

const patch = (path: string, json: unknown, headers: Record<string, string> = auth) =>
  call(`${url}${path}`, { method: 'PATCH', json, headers });

const admin = suite('admin routes');
admin.before(async () => {
  http = await startTest({
    models: [tinyModel('a'), tinyModel('b', { seed: 2 })],
    adminToken: token,
    processMetrics: true,
    logger: { level: 'info', stream: { write: (line: string) => void logLines.push(JSON.parse(line)) } },
  });
  url = http.url;
});

admin('need the bearer token: none or a wrong one is 401 UNAUTHENTICATED', async () => {
  for (const headers of [{}, { authorization: 'Bearer nope' }, { authorization: token }] as Record<string, string>[]) {
    const answer = await get(`${url}/admin/stats`, headers);
    assert.is(answer.status, 401);
    assert.equal([answer.body.code, answer.body.field], ['UNAUTHENTICATED', 'authorization']);
  }
  const stats = await get(`${url}/admin/stats`, auth);
  assert.is(stats.status, 200);
  assert.equal(
    stats.body.models.map((m: { name: string }) => m.name),
    ['a', 'b'],
  );
  assert.equal(
    stats.body.sessions.map((s: { name: string }) => s.name),
    ['a', 'b'],
  );
  assert.is((await patch('/admin/models/a', { weight: 2 }, {})).status, 401);
});

admin('weight, priority, policy and quantum change at run time', async () => {
  const model = await patch('/admin/models/a', { weight: 3, priority: 2 });
  assert.equal(model.body, { name: 'a', weight: 3, priority: 2, budget: null });
  const arbiter = await patch('/admin/arbiter', { policy: 'priority', quantumMs: 2 });
  assert.equal(arbiter.body, { policy: 'priority', quantumMs: 2, lagQuanta: kDefaultLagQuanta });
  const stats = http.server.stats();
  assert.is(stats.policy, 'priority');
  assert.is(stats.quantumMs, 2);
  const a = stats.sessions.find((s) => s.name === 'a')!;
  assert.equal([a.weight, a.priority], [3, 2]);
  await patch('/admin/arbiter', { policy: 'fair', quantumMs: 1 });
});

admin('a bad change names the field and changes nothing', async () => {
  const bad = await patch('/admin/models/b', { priority: 4, weight: -1 });
  assert.equal([bad.status, bad.body.code, bad.body.field], [400, 'INVALID_ARGUMENT', 'weight']);
  assert.equal(http.models.weights('b'), { weight: 1, priority: 0 });
  assert.is((await patch('/admin/models/b', { wieght: 2 })).body.field, 'wieght');
  assert.is((await patch('/admin/models/b', {})).body.field, 'body');
  assert.is((await patch('/admin/models/zz', { weight: 2 })).status, 404);
  assert.is((await patch('/admin/arbiter', { policy: 'lottery' })).body.field, 'policy');
  assert.is((await patch('/admin/arbiter', { quantumMs: 0 })).body.field, 'quantumMs');
  // The arbiter's own rule (whole microseconds): a quantum that would be stored as 0 is refused, not kept.
  const tiny = await patch('/admin/arbiter', { quantumMs: 1e-300 });
  assert.equal([tiny.status, tiny.body.code, tiny.body.field], [400, 'INVALID_ARGUMENT', 'quantumMs']);
  assert.is(http.server.stats().quantumMs, 1);
  assert.is(http.server.stats().policy, 'fair');
});

admin("POST /admin/poll answers every model's versions", async () => {
  const answer = await call(`${url}/admin/poll`, { method: 'POST', headers: auth });
  assert.is(answer.status, 200);
  assert.equal(answer.body.a, [{ version: '1', state: 'AVAILABLE' }]);
});

admin.run();

const metrics = suite('/metrics');

metrics('per model: requests by outcome, latency, queue, share, token waits; handoffs; process metrics', async () => {
  const load = (name: string) =>
    Array.from({ length: 6 }, () => post(`${url}/v1/models/${name}:predict`, { instances: [imageRows()] }));
  await Promise.all([...load('a'), ...load('b')]);
  await post(`${url}/v1/models/a:predict`, { instances: [[1]] });
  const answer = await get(`${url}/metrics`);
  assert.is(answer.status, 200);
  assert.match(answer.headers.get('content-type')!, 'text/plain');
  const text = answer.body as string;
  const value = (pattern: string) => {
    const match = new RegExp(`^${pattern.replace(/[{}]/g, '\\$&')} ([0-9.e+-]+)$`, 'm').exec(text);
    assert.ok(match, `no ${pattern} in\n${text.slice(0, 3000)}`);
    return Number(match![1]);
  };
  assert.ok(value('olympian_requests_total{model="a",outcome="ok",protocol="http"}') >= 6);
  assert.is(value('olympian_requests_total{model="a",outcome="INVALID_ARGUMENT",protocol="http"}'), 1);
  assert.ok(value('olympian_request_duration_seconds_count{model="b",protocol="http"}') >= 6);
  assert.is(value('olympian_queue_depth{model="a"}'), 0);
  const shares = value('olympian_device_share{model="a"}') + value('olympian_device_share{model="b"}');
  assert.ok(Math.abs(shares - 1) < 1e-6, `shares sum to ${shares}`);
  assert.ok(value('olympian_device_charged_seconds_total{model="a"}') > 0);
  assert.ok(value('olympian_token_grants_total{model="b"}') > 0);
  value('olympian_token_waits_total{model="b"}');
  value('olympian_token_wait_max_seconds{model="b"}');
  value('olympian_handoffs_total');
  // wasm sessions have no GPU: the series exist, at zero.
  assert.is(value('olympian_gpu_seconds_total{model="a"}'), 0);
  assert.is(value('olympian_gpu_waits_total{model="a"}'), 0);
  assert.is(value('olympian_gpu_wait_seconds_total{model="a"}'), 0);
  assert.is(value('olympian_policy_info{policy="fair"}'), 1);
  assert.is(value('olympian_weight{model="a"}'), 3);
  assert.is(value('olympian_model_version{model="a"}'), 1);
  value('process_cpu_user_seconds_total');
  value('nodejs_heap_size_used_bytes');
  assert.not.match(text, 'model="nope"');
});

metrics('log lines are pino JSON carrying the request id; a failure logs its code', async () => {
  logLines.length = 0;
  await post(`${url}/v1/models/a:predict`, { instances: [[1]] }, { 'x-request-id': 'log-check-1' });
  const mine = logLines.filter((line) => line.requestId === 'log-check-1');
  assert.ok(mine.length >= 3, JSON.stringify(logLines));
  assert.ok(mine.some((line) => line.code === 'INVALID_ARGUMENT' && line.field === 'inputs.image.shape'));
  assert.ok(logLines.filter((line) => line.req || line.res).every((line) => typeof line.requestId === 'string'));
});

metrics.after(async () => http.close());
metrics.run();

const binds = suite('binding and TLS');

binds('beyond loopback needs an admin token; bad options are INVALID_CONFIG naming the key', () => {
  const field = (options: object) => {
    try {
      validateHttpOptions({ models: [tinyModel('a')], ...options });
    } catch (error) {
      return (error as OlympianError).field;
    }
    return undefined;
  };
  assert.is(field({ host: '0.0.0.0' }), 'adminToken');
  assert.is(field({ host: '0.0.0.0', adminToken: token }), undefined);
  assert.is(field({ host: '127.0.0.1' }), undefined);
  assert.is(field({ adminToken: 'short' }), 'adminToken');
  assert.is(field({ port: 70000 }), 'port');
  assert.is(field({ host: 'not a host!' }), 'host');
  assert.is(field({ limits: { bodyBytes: 10 } }), 'limits.bodyBytes');
  assert.is(field({ models: [] }), 'models');
  assert.is(field({ models: [{ name: 'x' }] }), 'models[0]');
});

const hasOpenssl = (() => {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

binds('TLS: serves HTTPS with the given key and certificate', async () => {
  if (!hasOpenssl) {
    console.log('   (openssl not found: TLS case skipped)');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'olympian-tls-'));
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
      ],
      { stdio: 'ignore' },
    );
    const cert = readFileSync(join(dir, 'cert.pem'));
    const secure = await startTest({
      models: [tinyModel('t')],
      tls: { key: readFileSync(join(dir, 'key.pem')), cert },
    });
    try {
      assert.match(secure.url, /^https:\/\/127\.0\.0\.1:\d+$/);
      const body = await new Promise<string>((resolve, reject) => {
        const req = httpsRequest(`${secure.url}/v2/health/live`, { ca: cert, agent: false }, (res) => {
          let text = '';
          res.on('data', (chunk) => (text += chunk));
          res.on('end', () => resolve(text));
        });
        req.on('error', reject);
        req.end();
      });
      assert.equal(JSON.parse(body), { live: true });
    } finally {
      await secure.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

binds.run();
