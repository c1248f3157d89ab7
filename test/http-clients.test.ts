/**
 * The clients people already use: requests shaped exactly as `tritonclient.http` shapes them (no
 * Content-Type; the binary tensor extension; gzip or deflate bodies; compressed answers) must give the
 * same numbers as the same request sent with a Content-Type. `m` is the tiny conv net (input `image`
 * [batch,16,16,3] float32, output `logits` [batch,10]).
 */
import { gzipSync } from 'node:zlib';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { HttpServer } from '../src/http/http-server.js';
import { imageRows, startTest, tinyModel } from './fixtures/http/helpers.js';
import { rawPost, readTritonAnswer, tritonRequest, type RawRequest, type TritonCall } from './fixtures/http/triton.js';

let http: HttpServer;
let url: string;
const jsonBodyBytes = 256 * 1024;

const images = (batch: number) =>
  new Float32Array(Array.from({ length: batch }, (_, i) => imageRows(16, (k) => Math.sin(k + i))).flat(3));
const imageInput = (batch: number, binary: boolean) => ({
  name: 'image',
  shape: [batch, 16, 16, 3],
  datatype: 'FP32' as const,
  data: images(batch),
  binary,
});
const withType = (request: RawRequest, type: string): RawRequest => ({
  ...request,
  headers: { ...request.headers, 'Content-Type': type },
});

/** What the embedding API answers for the same images. */
async function direct(batch: number): Promise<number[]> {
  const out = await http.server.infer('m', {
    image: { dtype: 'float32', shape: [batch, 16, 16, 3], data: images(batch) },
  });
  return Array.from(out.logits.data as ArrayLike<number>);
}

async function infer(call: TritonCall, type?: string) {
  const request = tritonRequest(call);
  const answer = await rawPost(`${url}/v2/models/m/infer`, type === undefined ? request : withType(request, type));
  assert.is(answer.status, 200, answer.body.toString().slice(0, 300));
  return { answer, ...readTritonAnswer(answer) };
}

const triton = suite('tritonclient.http requests');
triton.before(async () => {
  http = await startTest({ models: [tinyModel('m')], limits: { jsonBodyBytes } });
  url = http.url;
});
triton.after(async () => http.close());

triton('JSON infer with no Content-Type answers as it does with application/json', async () => {
  const call = { inputs: [imageInput(2, false)], outputs: [{ name: 'logits', binary: false }] };
  const bare = await infer(call);
  const typed = await infer(call, 'application/json');
  assert.not.ok(tritonRequest(call).headers['Content-Type']);
  assert.equal(bare.outputs, typed.outputs);
  assert.equal(bare.outputs[0].values, await direct(2));
});

triton(
  'binary infer with no Content-Type (Inference-Header-Content-Length) answers as it does with application/octet-stream',
  async () => {
    const call = { inputs: [imageInput(2, true)] };
    const bare = await infer(call);
    const typed = await infer(call, 'application/octet-stream');
    assert.ok(bare.answer.headers['inference-header-content-length'], 'every output came back binary');
    assert.equal(bare.header.outputs[0].parameters, { binary_data_size: 80 });
    assert.equal(bare.outputs, typed.outputs);
    assert.equal(bare.outputs[0].values, await direct(2));
  },
);

triton('gzip and deflate request bodies (JSON and binary) are decoded', async () => {
  for (const binary of [false, true]) {
    const plain = await infer({ inputs: [imageInput(1, binary)], outputs: [{ name: 'logits', binary }] });
    for (const requestCompression of ['gzip', 'deflate'] as const) {
      const packed = await infer({
        inputs: [imageInput(1, binary)],
        outputs: [{ name: 'logits', binary }],
        requestCompression,
      });
      assert.equal(packed.outputs, plain.outputs, `${requestCompression}, binary ${binary}`);
    }
  }
});

triton('a gzip or deflate answer when Accept-Encoding asks for one', async () => {
  const call = { inputs: [imageInput(8, true)], outputs: [{ name: 'logits', binary: false }] };
  const plain = await infer(call);
  assert.is(plain.answer.headers['content-encoding'], undefined);
  for (const responseCompression of ['gzip', 'deflate'] as const) {
    const packed = await infer({ ...call, responseCompression });
    assert.is(packed.answer.headers['content-encoding'], responseCompression);
    assert.ok(packed.answer.body.byteLength < plain.answer.body.byteLength);
    assert.equal(packed.outputs, plain.outputs);
  }
  const binary = await infer({ inputs: [imageInput(32, true)], responseCompression: 'gzip' });
  assert.is(binary.answer.headers['content-encoding'], 'gzip', 'binary answers too');
  assert.equal(binary.outputs[0].values, await direct(32));
});

triton.run();

const bodies = suite('request bodies: types, codings and their limits');
bodies.before(async () => {
  http = await startTest({ models: [tinyModel('m')], limits: { jsonBodyBytes } });
  url = http.url;
});
bodies.after(async () => http.close());

const v2Body = (batch = 1) =>
  Buffer.from(
    JSON.stringify({
      inputs: [{ name: 'image', shape: [batch, 16, 16, 3], datatype: 'FP32', data: Array.from(images(batch)) }],
    }),
  );
const errorOf = (answer: { status: number; body: Buffer }) => ({
  status: answer.status,
  ...JSON.parse(answer.body.toString()),
});

bodies('on the inference routes */*, text/plain and a TF-Serving predict with no type are read as JSON', async () => {
  const expected = await direct(1);
  for (const type of ['*/*', 'text/plain', 'text/plain; charset=utf-8']) {
    const answer = await rawPost(`${url}/v2/models/m/infer`, { headers: { 'Content-Type': type }, body: v2Body() });
    assert.is(answer.status, 200, answer.body.toString());
    assert.equal(JSON.parse(answer.body.toString()).outputs[0].data, expected, type);
  }
  const predict = await rawPost(`${url}/v1/models/m:predict`, {
    headers: { 'Content-Encoding': 'gzip' },
    body: gzipSync(JSON.stringify({ instances: [imageRows(16, (k) => Math.sin(k))] })),
  });
  assert.equal(JSON.parse(predict.body.toString()).predictions[0], expected);
});

bodies('elsewhere a body with no type, and anywhere an unknown type, is 415 naming content-type', async () => {
  const admin = await rawPost(`${url}/admin/poll`, { headers: {}, body: Buffer.from('{}') });
  assert.equal([admin.status, errorOf(admin).field], [415, 'content-type']);
  const xml = await rawPost(`${url}/v2/models/m/infer`, {
    headers: { 'Content-Type': 'application/xml' },
    body: Buffer.from('<x/>'),
  });
  assert.equal([xml.status, errorOf(xml).code, errorOf(xml).field], [415, 'INVALID_ARGUMENT', 'content-type']);
});

bodies('an unknown Content-Encoding is 415 naming it; a corrupt gzip body is 400', async () => {
  const brotli = await rawPost(`${url}/v2/models/m/infer`, { headers: { 'Content-Encoding': 'br' }, body: v2Body() });
  assert.equal(
    [brotli.status, errorOf(brotli).code, errorOf(brotli).field],
    [415, 'INVALID_ARGUMENT', 'content-encoding'],
  );
  const two = await rawPost(`${url}/v2/models/m/infer`, {
    headers: { 'Content-Encoding': 'gzip, gzip' },
    body: gzipSync(gzipSync(v2Body())),
  });
  assert.is(two.status, 415);
  const corrupt = gzipSync(v2Body());
  corrupt.fill(0x41, 20, 60);
  const broken = await rawPost(`${url}/v2/models/m/infer`, { headers: { 'Content-Encoding': 'gzip' }, body: corrupt });
  assert.equal([broken.status, errorOf(broken).code, errorOf(broken).field], [400, 'INVALID_ARGUMENT', 'body']);
  const truncated = await rawPost(`${url}/v2/models/m/infer`, {
    headers: { 'Content-Encoding': 'gzip' },
    body: gzipSync(v2Body()).subarray(0, 100),
  });
  assert.equal([truncated.status, errorOf(truncated).field], [400, 'body']);
});

bodies('the JSON limit counts decoded bytes: a small gzip body that inflates past it is 413', async () => {
  const bomb = gzipSync(
    Buffer.from(
      JSON.stringify({
        inputs: [{ name: 'image', shape: [1], datatype: 'FP32', data: new Array(jsonBodyBytes).fill(0) }],
      }),
    ),
  );
  assert.ok(bomb.byteLength < 8192, `${bomb.byteLength} bytes compressed`);
  const answer = await rawPost(`${url}/v2/models/m/infer`, { headers: { 'Content-Encoding': 'gzip' }, body: bomb });
  assert.equal([answer.status, errorOf(answer).code, errorOf(answer).field], [413, 'TOO_LARGE', 'body']);
});

bodies(
  'a JSON body over limits.jsonBodyBytes is 413 advising binary KServe or msgpack; the same tensors as binary are served',
  async () => {
    const big = v2Body(32);
    assert.ok(big.byteLength > jsonBodyBytes);
    const answer = await rawPost(`${url}/v2/models/m/infer`, {
      headers: { 'Content-Type': 'application/json' },
      body: big,
    });
    const error = errorOf(answer);
    assert.equal([answer.status, error.code, error.field], [413, 'TOO_LARGE', 'body']);
    assert.match(error.error, 'Inference-Header-Content-Length');
    assert.match(error.error, 'application/msgpack');
    const binary = tritonRequest({ inputs: [imageInput(32, true)] });
    assert.is((await rawPost(`${url}/v2/models/m/infer`, binary)).status, 200);
    const header = await rawPost(`${url}/v2/models/m/infer`, {
      headers: { 'Inference-Header-Content-Length': String(big.byteLength) },
      body: big,
    });
    assert.equal(
      [header.status, errorOf(header).field],
      [413, 'inference-header-content-length'],
      "the binary extension's JSON header is JSON too",
    );
  },
);

bodies.run();
