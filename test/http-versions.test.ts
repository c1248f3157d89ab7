/**
 * Model versions as TF-Serving lays them out: tiny tf.layers models built here and saved into numbered
 * directories of a base path. New versions are picked up without a restart, a broken one leaves the old
 * one serving, and a switch under load loses no request.
 */
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '../src/device/tfjs.js';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { HttpServer } from '../src/http/http-server.js';
import { fileSystemHandler } from '../src/models/index.js';
import { createModel, type TinyOptions } from './fixtures/tiny-models.js';
import { sleep } from './helpers-server.js';
import { get, imageRows, post, startTest } from './fixtures/http/helpers.js';

const root = mkdtempSync(join(tmpdir(), 'olympian-versions-'));

/** Saves a tiny model as `<base>/<version>`, written aside and renamed in, as a deployment should. */
async function writeVersion(base: string, version: number, options: TinyOptions = {}): Promise<void> {
  const staging = join(base, `.staging-${version}`);
  const model = createModel(tf, options);
  await model.save(fileSystemHandler(staging));
  model.dispose();
  renameSync(staging, join(base, String(version)));
}

function writeBroken(base: string, version: number, text = '{"modelTopology": '): void {
  mkdirSync(join(base, String(version)), { recursive: true });
  writeFileSync(join(base, String(version), 'model.json'), text);
}

const states = async (url: string, name: string) =>
  (await get(`${url}/v1/models/${name}`)).body.model_version_status.map(
    (row: { version: string; state: string; status: { error_code: string } }) =>
      `${row.version}:${row.state}:${row.status.error_code}`,
  );

const predict = async (url: string, name: string) =>
  (await post(`${url}/v1/models/${name}:predict`, { instances: [imageRows()] })).body.predictions[0] as number[];

let http: HttpServer;
let url: string;
const base = join(root, 'm');

const versions = suite('model versions from a base path');
versions.before(async () => {
  mkdirSync(base);
  await writeVersion(base, 1, { seed: 1 });
  await writeVersion(base, 2, { seed: 2 });
  http = await startTest({ models: [{ name: 'm', basePath: base }], pollIntervalMs: 50 });
  url = http.url;
});
versions.after(async () => http.close());

versions('the newest version is served; status lists the real versions', async () => {
  assert.equal(await states(url, 'm'), ['2:AVAILABLE:OK', '1:END:OK']);
  assert.is((await get(`${url}/v1/models/m/metadata`)).body.model_spec.version, '2');
  assert.equal((await get(`${url}/v2/models/m`)).body.versions, ['2']);
  assert.is((await post(`${url}/v1/models/m/versions/2:predict`, { instances: [imageRows()] })).status, 200);
  assert.is((await post(`${url}/v1/models/m/versions/1:predict`, { instances: [imageRows()] })).status, 404);
});

versions('a new version directory is picked up without a restart; the old session is removed', async () => {
  const before = await predict(url, 'm');
  await writeVersion(base, 3, { seed: 3 });
  await http.models.poll();
  assert.equal(await states(url, 'm'), ['3:AVAILABLE:OK', '2:END:OK', '1:END:OK']);
  assert.not.equal(await predict(url, 'm'), before, 'a different model answers');
  assert.equal(http.server.models, [http.models.served('m')!.session]);
});

versions('a broken version is reported in status and the old one keeps serving; fixed, it is loaded', async () => {
  writeBroken(base, 4);
  await http.models.poll();
  const rows = (await get(`${url}/v1/models/m`)).body.model_version_status;
  assert.equal(rows[0].version, '4');
  assert.equal([rows[0].state, rows[0].status.error_code], ['END', 'MODEL_LOAD_FAILED']);
  assert.match(rows[0].status.error_message, 'model.json');
  assert.is(http.models.served('m')!.version, '3');
  const answer = await post(`${url}/v2/models/m/infer`, {
    inputs: [{ name: 'image', shape: [1, 16, 16, 3], datatype: 'FP32', data: imageRows().flat(2) }],
  });
  assert.is(answer.body.model_version, '3');
  await http.models.poll();
  assert.equal((await states(url, 'm'))[0], '4:END:MODEL_LOAD_FAILED', 'not retried while its files are unchanged');
  rmSync(join(base, '4'), { recursive: true });
  await writeVersion(base, 4, { seed: 4 });
  await http.models.poll();
  assert.equal((await states(url, 'm'))[0], '4:AVAILABLE:OK');
});

versions('a switch under load loses no request', async () => {
  let stop = false;
  const seen = new Map<string, number>();
  const failures: string[] = [];
  const client = async () => {
    while (!stop) {
      const answer = await post(`${url}/v2/models/m/infer`, {
        inputs: [{ name: 'image', shape: [1, 16, 16, 3], datatype: 'FP32', data: imageRows().flat(2) }],
      });
      if (answer.status !== 200) failures.push(JSON.stringify(answer.body));
      else seen.set(answer.body.model_version, (seen.get(answer.body.model_version) ?? 0) + 1);
    }
  };
  const clients = Array.from({ length: 4 }, client);
  await sleep(200);
  await writeVersion(base, 5, { seed: 5 });
  // The poll timer (50 ms) finds it; the clients keep going until the new version has answered a while.
  const started = Date.now();
  while ((seen.get('5') ?? 0) < 20 && Date.now() - started < 30_000) await sleep(20);
  stop = true;
  await Promise.all(clients);
  assert.equal(failures, []);
  assert.ok((seen.get('4') ?? 0) > 0 && (seen.get('5') ?? 0) >= 20, JSON.stringify([...seen]));
  assert.equal(http.server.models, [http.models.served('m')!.session]);
});

versions("when the served version's directory goes, the newest one left is served", async () => {
  rmSync(join(base, '5'), { recursive: true });
  await http.models.poll();
  assert.is(http.models.served('m')!.version, '4');
  assert.equal((await states(url, 'm')).slice(0, 2), ['4:AVAILABLE:OK', '3:END:OK']);
});

versions.run();

const failures = suite('model versions: failures at start and over budget');

failures(
  'at start, a broken newest version falls back to the one before; a version over the memory budget is refused with RESOURCE_EXHAUSTED',
  async () => {
    const small = join(root, 'small');
    mkdirSync(small);
    await writeVersion(small, 1, { channels: 4, layers: 1 });
    writeBroken(small, 2, 'not json');
    const server = await startTest({ models: [{ name: 's', basePath: small }], server: { memoryBudgetMB: 1 } });
    try {
      assert.equal(await states(server.url, 's'), ['2:END:MODEL_LOAD_FAILED', '1:AVAILABLE:OK']);
      await writeVersion(small, 3, { channels: 256, layers: 4, inputSize: 32 });
      await server.models.poll();
      assert.equal(await states(server.url, 's'), [
        '3:END:RESOURCE_EXHAUSTED',
        '2:END:MODEL_LOAD_FAILED',
        '1:AVAILABLE:OK',
      ]);
      assert.is((await post(`${server.url}/v1/models/s:predict`, { instances: [imageRows()] })).status, 200);
      const ready = await get(`${server.url}/v2/models/s/versions/3/ready`);
      assert.equal([ready.status, ready.body.ready], [503, false]);
    } finally {
      await server.close();
    }
  },
);

failures('a base path with no version that loads fails the start', async () => {
  const empty = join(root, 'empty');
  mkdirSync(empty);
  try {
    await startTest({ models: [{ name: 'e', basePath: empty }] });
    assert.unreachable('started');
  } catch (error) {
    assert.is((error as { code?: string }).code, 'MODEL_LOAD_FAILED');
    assert.is((error as { field?: string }).field, 'models[0].basePath');
  }
});

failures.after(() => rmSync(root, { recursive: true, force: true }));
failures.run();
