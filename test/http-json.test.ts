/**
 * Hostile JSON shapes on every front that takes JSON tensors: nesting 20,000 deep (40 KB of brackets)
 * must be a 400 naming the field, not a 500 from a blown stack. `m` takes `image` [batch,16,16,3];
 * `two` takes `a` float32 and `n` int32, both [batch,3].
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { HttpServer } from '../src/http/http-server.js';
import { call, post, startTest, tinyModel, twoIoModel } from './fixtures/http/helpers.js';

let http: HttpServer;
let url: string;

const kDepth = 20_000;
/** `[[[…1…]]]` nested kDepth deep, as raw JSON text (JSON.stringify itself would overflow on it). */
const deepText = '['.repeat(kDepth) + '1' + ']'.repeat(kDepth);
/** A body with `deepText` put where `"DEEP"` stands in `template`. */
const deepBody = (template: object) => JSON.stringify(template).replace('"DEEP"', deepText);

const deep = suite('deep JSON');
deep.before(async () => {
  http = await startTest({ models: [tinyModel('m'), { name: 'two', model: twoIoModel }] });
  url = http.url;
});
deep.after(async () => http.close());

deep('nesting 20,000 deep is 400 INVALID_ARGUMENT naming the field, on every JSON front', async () => {
  const cases: Array<[string, object, string]> = [
    [
      '/v2/models/m/infer',
      { inputs: [{ name: 'image', shape: [1], datatype: 'FP32', data: 'DEEP' }] },
      'inputs[0].data',
    ],
    ['/v1/models/m:predict', { instances: 'DEEP' }, 'instances'],
    ['/v1/models/two:predict', { instances: [{ a: 'DEEP', n: [1, 2, 3] }] }, 'instances[0].a'],
    ['/v1/models/m:predict', { inputs: 'DEEP' }, 'inputs'],
    ['/v1/models/two:predict', { inputs: { a: [[1, 2, 3]], n: 'DEEP' } }, 'inputs.n'],
  ];
  for (const [path, template, field] of cases) {
    const body = deepBody(template);
    assert.ok(body.length > 2 * kDepth);
    const answer = await call(`${url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    assert.equal(
      [answer.status, answer.body.code, answer.body.field],
      [400, 'INVALID_ARGUMENT', field],
      `${path} ${JSON.stringify(answer.body).slice(0, 200)}`,
    );
    assert.match(answer.body.error, 'at most 32 dimensions');
  }
  // The binary extension's JSON header may carry JSON data beside binary inputs.
  const header = Buffer.from(deepBody({ inputs: [{ name: 'image', shape: [1], datatype: 'FP32', data: 'DEEP' }] }));
  const binary = await call(`${url}/v2/models/m/infer`, {
    method: 'POST',
    headers: { 'inference-header-content-length': String(header.byteLength) },
    body: header,
  });
  assert.equal([binary.status, binary.body.code, binary.body.field], [400, 'INVALID_ARGUMENT', 'inputs[0].data']);
});

deep('a msgpack frame nested 20,000 deep is 400 INVALID_ARGUMENT too', async () => {
  // { type: 'infer', model: 'm', inputs: [[[…]]] } written by hand: msgpackr's own packer recurses.
  const str = (s: string) => Buffer.concat([Buffer.from([0xa0 | s.length]), Buffer.from(s)]);
  const frame = Buffer.concat([
    Buffer.from([0x83]),
    str('type'),
    str('infer'),
    str('model'),
    str('m'),
    str('inputs'),
    Buffer.alloc(kDepth, 0x91),
    Buffer.from([0x01]),
  ]);
  const answer = await call(`${url}/v2/models/m/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/msgpack' },
    body: frame,
  });
  assert.is(answer.status, 400);
});

deep('as deep as a tensor may be is still served as JSON', async () => {
  // 32 dimensions, all 1 but the last: the deepest shape accepted; the model then refuses its rank.
  const answer = await post(`${url}/v2/models/m/infer`, {
    inputs: [
      {
        name: 'image',
        shape: [1, 16, 16, 3],
        datatype: 'FP32',
        data: JSON.parse('['.repeat(31) + '[1]' + ']'.repeat(31)),
      },
    ],
  });
  assert.equal([answer.status, answer.body.field], [400, 'inputs[0].data'], JSON.stringify(answer.body));
  assert.match(answer.body.error, 'has 1 elements but shape [1, 16, 16, 3] needs 768');
});

deep.run();
