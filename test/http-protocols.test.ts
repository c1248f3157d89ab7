/**
 * Every route of both protocols over real HTTP on 127.0.0.1, with requests copied from TF-Serving's REST
 * API guide and KServe's v2 protocol pages, adapted to the test models: `m` (tiny conv net, input `image`
 * [batch,16,16,3] float32, output `logits` [batch,10]) and `two` (inputs `a` float32 and `n` int32, both
 * [batch,3]; outputs `scaled_sum` = (a + n) * [1,10,100] and `n_squared`).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { HttpServer } from '../src/http/http-server.js';
import { decodeMessage, encodeMessage } from '../src/protocol/codec.js';
import { call, get, imageRows, post, startTest, tinyModel, twoIoModel } from './fixtures/http/helpers.js';

let http: HttpServer;
let url: string;

/** What the embedding API answers for the same image: HTTP must give back exactly these float32 values. */
async function direct(rows: number[][][][]): Promise<number[][]> {
  const data = new Float32Array(rows.flat(3));
  const out = await http.server.infer('m', { image: { dtype: 'float32', shape: [rows.length, 16, 16, 3], data } });
  return Array.from({ length: rows.length }, (_, i) =>
    Array.from((out.logits.data as Float32Array).subarray(i * 10, (i + 1) * 10)),
  );
}

const tfs = suite('TF-Serving REST API');
tfs.before(async () => {
  http = await startTest({ models: [tinyModel('m'), { name: 'two', model: twoIoModel }] });
  url = http.url;
});

tfs('GET /v1/models/{name}: version status as the guide shows it', async () => {
  const answer = await get(`${url}/v1/models/m`);
  assert.is(answer.status, 200);
  assert.equal(answer.body, {
    model_version_status: [{ version: '1', state: 'AVAILABLE', status: { error_code: 'OK', error_message: '' } }],
  });
  assert.equal((await get(`${url}/v1/models/m/versions/1`)).body.model_version_status[0].version, '1');
  assert.is((await get(`${url}/v1/models/m/versions/7`)).status, 404);
});

tfs('GET /v1/models/{name}/metadata: the serving_default signature', async () => {
  const answer = await get(`${url}/v1/models/two/metadata`);
  assert.is(answer.status, 200);
  assert.equal(answer.body.model_spec, { name: 'two', signature_name: '', version: '1' });
  const signature = answer.body.metadata.signature_def.signature_def.serving_default;
  assert.equal(Object.keys(signature.inputs), ['a', 'n']);
  assert.is(signature.inputs.n.dtype, 'DT_INT32');
  assert.equal(
    signature.inputs.a.tensor_shape.dim.map((d: { size: string }) => d.size),
    ['-1', '3'],
  );
  assert.equal(Object.keys(signature.outputs), ['scaled_sum', 'n_squared']);
  assert.is(signature.method_name, 'tensorflow/serving/predict');
});

tfs('row format, one input: {"instances": [...]} answers {"predictions": [...]} exactly as in process', async () => {
  const rows = [imageRows(), imageRows(16, Math.cos)];
  const answer = await post(`${url}/v1/models/m:predict`, { instances: rows });
  assert.is(answer.status, 200);
  assert.equal(answer.body.predictions, await direct(rows));
  const versioned = await post(`${url}/v1/models/m/versions/1:predict`, { instances: rows.slice(0, 1) });
  assert.equal(versioned.body.predictions.length, 1);
});

tfs('row format, named inputs and outputs (the guide\'s "tag/signal/sensor" request, adapted)', async () => {
  const answer = await post(`${url}/v1/models/two:predict`, {
    signature_name: 'serving_default',
    instances: [
      { a: [1, 2, 3], n: [4, 5, 6] },
      { a: [0.5, 0, -1], n: [1, 1, 1] },
    ],
  });
  assert.is(answer.status, 200);
  assert.equal(answer.body, {
    predictions: [
      { scaled_sum: [5, 70, 900], n_squared: [16, 25, 36] },
      { scaled_sum: [1.5, 10, 0], n_squared: [1, 1, 1] },
    ],
  });
});

tfs('columnar format: {"inputs": {...}} answers {"outputs": {...}}', async () => {
  const answer = await post(`${url}/v1/models/two:predict`, {
    inputs: {
      a: [
        [1, 2, 3],
        [0.5, 0, -1],
      ],
      n: [
        [4, 5, 6],
        [1, 1, 1],
      ],
    },
  });
  assert.is(answer.status, 200);
  assert.equal(answer.body, {
    outputs: {
      scaled_sum: [
        [5, 70, 900],
        [1.5, 10, 0],
      ],
      n_squared: [
        [16, 25, 36],
        [1, 1, 1],
      ],
    },
  });
  const single = await post(`${url}/v1/models/m:predict`, { inputs: [imageRows()] });
  assert.equal(single.body.outputs, await direct([imageRows()]));
});

tfs(
  'binary values: {"b64": ...} is the raw bytes of the tensor block (the guide\'s image_bytes request, adapted)',
  async () => {
    const rows = [imageRows(16, (i) => (i % 7) / 7)];
    const bytes = Buffer.from(new Float32Array(rows.flat(3)).buffer).toString('base64');
    const named = await post(`${url}/v1/models/m:predict`, { instances: [{ image: { b64: bytes } }] });
    assert.is(named.status, 200, JSON.stringify(named.body));
    assert.equal(named.body.predictions, await direct(rows));
    const bare = await post(`${url}/v1/models/m:predict`, { instances: [{ b64: bytes }] });
    assert.equal(bare.body.predictions, named.body.predictions);
  },
);

tfs('classify and regress are not served; an unknown verb or path is 404 in the error shape', async () => {
  for (const path of ['/v1/models/m:classify', '/v1/models/m:frobnicate', '/v1/models/m/labels/stable:predict']) {
    const answer = await post(`${url}${path}`, { instances: [imageRows()] });
    assert.is(answer.status, 404, path);
    assert.is(answer.body.code, 'NOT_FOUND');
  }
});

tfs.run();

const v2 = suite('KServe v2 / Open Inference Protocol');

v2('health, server metadata, model metadata and readiness', async () => {
  assert.equal((await get(`${url}/v2/health/live`)).body, { live: true });
  assert.equal((await get(`${url}/v2/health/ready`)).body, { ready: true });
  const server = await get(`${url}/v2`);
  assert.is(server.body.name, 'olympian');
  assert.ok(server.body.extensions.includes('binary_tensor_data'));
  const meta = await get(`${url}/v2/models/two`);
  assert.equal(meta.body, {
    name: 'two',
    versions: ['1'],
    platform: 'tensorflowjs',
    inputs: [
      { name: 'a', datatype: 'FP32', shape: [-1, 3] },
      { name: 'n', datatype: 'INT32', shape: [-1, 3] },
    ],
    outputs: [
      { name: 'scaled_sum', datatype: 'FP32', shape: [-1, 3] },
      { name: 'n_squared', datatype: 'INT32', shape: [-1, 3] },
    ],
  });
  assert.equal((await get(`${url}/v2/models/two/versions/1`)).body.name, 'two');
  assert.equal((await get(`${url}/v2/models/m/ready`)).body, { name: 'm', ready: true });
  assert.is((await get(`${url}/v2/models/m/versions/1/ready`)).status, 200);
  assert.is((await get(`${url}/v2/models/nope/ready`)).status, 404);
});

v2("infer: the protocol page's request (id, two inputs, one output asked for), adapted", async () => {
  const answer = await post(`${url}/v2/models/two/infer`, {
    id: '42',
    inputs: [
      { name: 'a', shape: [2, 3], datatype: 'FP32', data: [1, 2, 3, 0.5, 0, -1] },
      {
        name: 'n',
        shape: [2, 3],
        datatype: 'INT32',
        data: [
          [4, 5, 6],
          [1, 1, 1],
        ],
      },
    ],
    outputs: [{ name: 'scaled_sum' }],
  });
  assert.is(answer.status, 200, JSON.stringify(answer.body));
  assert.equal(answer.body, {
    model_name: 'two',
    model_version: '1',
    id: '42',
    outputs: [{ name: 'scaled_sum', datatype: 'FP32', shape: [2, 3], data: [5, 70, 900, 1.5, 10, 0] }],
  });
  const all = await post(`${url}/v2/models/m/versions/1/infer`, {
    inputs: [{ name: 'image', shape: [1, 16, 16, 3], datatype: 'FP32', data: imageRows().flat(2) }],
  });
  assert.equal(all.body.outputs[0].data, (await direct([imageRows()]))[0]);
  assert.equal(all.body.outputs[0].shape, [1, 10]);
});

v2('binary tensor extension: raw inputs after the JSON header, a binary output back', async () => {
  const a = Buffer.from(new Float32Array([1, 2, 3]).buffer);
  const n = Buffer.from(new BigInt64Array([4n, 5n, 6n]).buffer);
  const header = Buffer.from(
    JSON.stringify({
      inputs: [
        { name: 'a', shape: [1, 3], datatype: 'FP32', parameters: { binary_data_size: a.byteLength } },
        { name: 'n', shape: [1, 3], datatype: 'INT64', parameters: { binary_data_size: n.byteLength } },
      ],
      outputs: [{ name: 'scaled_sum', parameters: { binary_data: true } }, { name: 'n_squared' }],
    }),
  );
  const response = await fetch(`${url}/v2/models/two/infer`, {
    method: 'POST',
    headers: {
      'content-type': 'application/octet-stream',
      'inference-header-content-length': String(header.byteLength),
    },
    body: Buffer.concat([header, a, n]),
  });
  assert.is(response.status, 200);
  const body = Buffer.from(await response.arrayBuffer());
  const length = Number(response.headers.get('inference-header-content-length'));
  const json = JSON.parse(body.subarray(0, length).toString());
  assert.equal(json.outputs[0], {
    name: 'scaled_sum',
    datatype: 'FP32',
    shape: [1, 3],
    parameters: { binary_data_size: 12 },
  });
  assert.equal(json.outputs[1].data, [16, 25, 36]);
  const binary = body.subarray(length);
  assert.equal(
    Array.from(new Float32Array(binary.buffer.slice(binary.byteOffset, binary.byteOffset + 12))),
    [5, 70, 900],
  );
});

v2.run();

const binary = suite('msgpack bodies (the wire codec)');

binary("an infer frame on either protocol's route answers a result frame", async () => {
  const image = { dtype: 'float32' as const, shape: [1, 16, 16, 3], data: new Float32Array(imageRows().flat(2)) };
  for (const path of ['/v2/models/m/infer', '/v1/models/m:predict']) {
    const answer = await call(`${url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/msgpack' },
      body: encodeMessage({ type: 'infer', id: 7, model: 'm', inputs: { image } }),
    });
    assert.is(answer.status, 200, path);
    const frame = decodeMessage(answer.body);
    assert.is(frame.type, 'result');
    if (frame.type !== 'result') return;
    assert.is(frame.id, 7);
    assert.equal(Array.from(frame.outputs.logits.data as ArrayLike<number>), (await direct([imageRows()]))[0]);
  }
});

binary('errors come back as error frames with the same status', async () => {
  const answer = await call(`${url}/v2/models/m/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/msgpack' },
    body: encodeMessage({ type: 'infer', id: 'x', model: 'two', inputs: {} }),
  });
  assert.is(answer.status, 400);
  const frame = decodeMessage(answer.body);
  assert.is(frame.type, 'error');
  if (frame.type === 'error')
    assert.equal([frame.id, frame.error.code, frame.error.field], ['x', 'INVALID_ARGUMENT', 'model']);
  const garbage = await call(`${url}/v2/models/m/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/msgpack' },
    body: new Uint8Array([0xc1]),
  });
  assert.is(garbage.status, 400);
});

binary.after(async () => http.close());
binary.run();
