/**
 * What an unauthenticated client can learn or do: no absolute server path on a public route (a failed
 * version is reported relative to its base path; the log and the admin routes keep the absolute one),
 * and, with no admin token, admin routes only for a loopback Host (a DNS-rebinding page sends its own).
 */
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '../src/device/tfjs.js';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { HttpServer } from '../src/http/http-server.js';
import { PathRedactor } from '../src/http/paths.js';
import { fileSystemHandler } from '../src/models/index.js';
import { createModel } from './fixtures/tiny-models.js';
import { get, startTest, tinyModel } from './fixtures/http/helpers.js';
import { rawConnect, rawRequest } from './fixtures/http/raw.js';

const root = mkdtempSync(join(tmpdir(), 'olympian-exposure-'));
const base = join(root, 'm');
let http: HttpServer;
let url: string;
const logLines: string[] = [];

const paths = suite('server paths on public routes');
paths.before(async () => {
  mkdirSync(base);
  const model = createModel(tf);
  await model.save(fileSystemHandler(join(base, '.staging')));
  model.dispose();
  renameSync(join(base, '.staging'), join(base, '1'));
  mkdirSync(join(base, '2'));
  writeFileSync(join(base, '2', 'model.json'), '{"modelTopology": ');
  http = await startTest({
    models: [{ name: 'm', basePath: base }],
    logger: { level: 'info', stream: { write: (line: string) => void logLines.push(line) } },
  });
  url = http.url;
});
paths.after(async () => {
  await http.close();
  rmSync(root, { recursive: true, force: true });
});

paths('a failed version is reported relative to the base path on every public route', async () => {
  const status = await get(`${url}/v1/models/m`);
  const failed = status.body.model_version_status.find((row: { version: string }) => row.version === '2');
  assert.is(failed.status.error_code, 'MODEL_LOAD_FAILED');
  assert.match(failed.status.error_message, /^cannot load model from 2\/model\.json: /);
  for (const path of [
    '/v1/models/m',
    '/v1/models/m/versions/2',
    '/v1/models/m/metadata',
    '/v2/models/m',
    '/v2/models/m/ready',
    '/v2/models/m/versions/2/ready',
  ]) {
    const answer = await get(`${url}${path}`);
    assert.not.match(JSON.stringify(answer.body), root, path);
    assert.not.match(JSON.stringify(answer.body), tmpdir(), path);
  }
});

paths('the log and the admin routes keep the absolute path', async () => {
  mkdirSync(join(base, '3'));
  writeFileSync(join(base, '3', 'model.json'), '{"modelTopology": ');
  await http.models.poll();
  const stats = await get(`${url}/admin/stats`);
  const failed = stats.body.models[0].versions.find((row: { version: string }) => row.version === '3');
  assert.match(failed.error.message, join(base, '3', 'model.json'));
  assert.ok(
    logLines.some((line) => line.includes(join(base, '3', 'model.json'))),
    'logged with its absolute path',
  );
  assert.ok(
    logLines.some((line) => line.includes(join(base, '2', 'model.json'))),
    'and so is the failure while the models loaded, before the app was up',
  );
  const status = await get(`${url}/v1/models/m/versions/3`);
  assert.match(status.body.model_version_status[0].status.error_message, /^cannot load model from 3\/model\.json: /);
});

paths('paths under a known root are made relative to it, and nothing else is touched', () => {
  const redactor = new PathRedactor([
    { name: 'a', basePath: '/srv/models/a' },
    { name: 'b', model: '/srv/fixed/model.json' },
    { name: 'c', model: { module: 'file:///srv/code/tiny.ts' } },
  ]);
  const cases: Array<[string, string]> = [
    [
      'cannot load model from /srv/models/a/3/model.json: no such file',
      'cannot load model from 3/model.json: no such file',
    ],
    ['"/srv/models/a" is empty', '"." is empty'],
    ['cannot load /srv/fixed/model.json', 'cannot load model.json'],
    ['at file:///srv/code/tiny.ts:3:4', 'at tiny.ts:3:4'],
    [`${process.cwd()}/src/http/app.ts`, 'src/http/app.ts'],
    ['/srv/models/ab/1/model.json', '/srv/models/ab/1/model.json'],
    ['http://host/srv/models/a/1', 'http://host/srv/models/a/1'],
    ['route not found: "GET /v1/models/x:predict"', 'route not found: "GET /v1/models/x:predict"'],
  ];
  for (const [text, expected] of cases) assert.is(redactor.redact(text), expected);
});

paths.run();

const rebinding = suite('admin routes and the Host header');
let open: HttpServer;
let locked: HttpServer;
const token = 'test-admin-token-0123456789';
rebinding.before(async () => {
  [open, locked] = await Promise.all([
    startTest({ models: [tinyModel('a')] }),
    startTest({ models: [tinyModel('b')], adminToken: token }),
  ]);
});
rebinding.after(async () => {
  await Promise.all([open.close(), locked.close()]);
});

rebinding(
  'with no admin token, admin routes answer loopback names only: 403 PERMISSION_DENIED naming host otherwise',
  async () => {
    const port = open.port;
    for (const host of [
      'localhost',
      `localhost:${port}`,
      '127.0.0.1',
      `127.0.0.1:${port}`,
      `127.1.2.3:${port}`,
      `[::1]:${port}`,
      '[::1]',
      `LOCALHOST:${port}`,
    ]) {
      assert.is((await rawRequest(`${open.url}/admin/stats`, { headers: { Host: host } })).status, 200, host);
    }
    for (const host of [
      'attacker.example',
      `attacker.example:${port}`,
      `localhost.attacker.example:${port}`,
      `127.0.0.1.nip.io:${port}`,
      '0.0.0.0',
      `[::ffff:127.0.0.1]:${port}`,
    ]) {
      const answer = await rawRequest(`${open.url}/admin/stats`, { headers: { Host: host } });
      const body = JSON.parse(answer.body.toString());
      assert.equal([answer.status, body.code, body.field], [403, 'PERMISSION_DENIED', 'host'], JSON.stringify(host));
    }
    // HTTP/1.0 may leave Host out altogether: that is no loopback name either.
    const bare = await rawConnect(open.url);
    bare.socket.write('GET /admin/stats HTTP/1.0\r\n\r\n');
    assert.match((await bare.closed).text, /^HTTP\/1\.1 403 /);
    const patch = await rawRequest(`${open.url}/admin/models/a`, {
      method: 'PATCH',
      headers: { Host: 'attacker.example', 'Content-Type': 'application/json' },
      body: Buffer.from('{"weight": 5}'),
    });
    assert.is(patch.status, 403);
    assert.is(open.models.weights('a').weight, 1, 'nothing changed');
    assert.is(
      (await rawRequest(`${open.url}/v2/health/live`, { headers: { Host: 'attacker.example' } })).status,
      200,
      'the public routes answer any name',
    );
  },
);

rebinding('with an admin token, the token decides, whatever the Host', async () => {
  const headers = { Host: 'olympian.internal.example', Authorization: `Bearer ${token}` };
  assert.is((await rawRequest(`${locked.url}/admin/stats`, { headers })).status, 200);
  assert.is((await rawRequest(`${locked.url}/admin/stats`, { headers: { Host: 'localhost' } })).status, 401);
});

rebinding.run();
