/**
 * ONNX dtypes on every front: int64, uint8, float16 and bool beside float32 and int32, over TF-Serving REST,
 * KServe v2 (JSON and binary), gRPC (KServe raw and typed, TF-Serving), msgpack, the embedding API and RPC —
 * or a clear refusal where a front cannot express a value. Models: `ids` (int64 ids → float32 rows and
 * int64 ids + 2^40), `plus` (int64 x → x + 1), `narrow` (float16, uint8, bool in and out).
 */
import { rmSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { HttpServer } from '../src/http/http-server.js';
import { connectClient } from '../src/protocol/client.js';
import { decodeMessage, encodeMessage, type InferResultMessage } from '../src/protocol/codec.js';
import { convertDType, firstMisfit } from '../src/protocol/dtypes.js';
import { floatToHalf, halfToFloat } from '../src/protocol/float16.js';
import { connect, unary, type Clients } from './fixtures/grpc/client.js';
import { post, startTest, tinyModel } from './fixtures/http/helpers.js';
import { writeOnnxFixtures } from './fixtures/onnx-models.js';

const models = await writeOnnxFixtures();
let http: HttpServer;
let url: string;
let c: Clients;

const big = 2n ** 60n;
const bytes = (data: ArrayBufferView) => Buffer.from(data.buffer, data.byteOffset, data.byteLength);
const int64s = (b: Buffer) => Array.from(new BigInt64Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)));
const halves = (b: Buffer) =>
  Array.from(new Uint16Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)), halfToFloat);

const rule = suite('the dtype rule for ONNX dtypes');

rule('float16 bits round-trip through numbers for every finite half', () => {
  for (let bits = 0; bits < 0x10000; bits++) {
    const value = halfToFloat(bits);
    if (Number.isNaN(value)) continue;
    assert.is(floatToHalf(value), bits, `0x${bits.toString(16)}`);
  }
  assert.is(floatToHalf(1 + 2 ** -11), 0x3c00, 'a tie rounds to even');
  assert.is(floatToHalf(70000), 0x7c00, 'past the largest half: infinity');
});

rule('exact rows widen value for value; checked rows refuse the first value that does not fit', () => {
  assert.equal(
    Array.from(convertDType(new Uint8Array([0, 255]), 'uint8', 'float16') as Uint16Array, halfToFloat),
    [0, 255],
  );
  assert.equal(
    Array.from(convertDType(new Uint16Array([0x3c00, 0xc000]), 'float16', 'float32') as Float32Array),
    [1, -2],
  );
  assert.equal(Array.from(convertDType(new Int32Array([-3, 7]), 'int32', 'int64') as BigInt64Array), [-3n, 7n]);
  assert.is(firstMisfit(new BigInt64Array([1n, 2n ** 31n]), 'int64', 'int32'), 1);
  assert.is(firstMisfit(new BigInt64Array([1n, -(2n ** 31n)]), 'int64', 'int32'), -1);
  assert.is(firstMisfit(new Int32Array([1]), 'int32', 'int64'), -1, 'an exact row never misfits');
});

const fronts = suite('ONNX dtypes on every front');

fronts.before(async () => {
  http = await startTest({
    grpcPort: 0,
    models: [
      { name: 'ids', model: models.ids },
      { name: 'plus', model: models.plus },
      { name: 'narrow', model: models.narrow },
      tinyModel('m'),
    ],
  });
  url = http.url;
  c = connect(http.grpc!.target);
});

fronts.after(async () => {
  c.close();
  await http.close();
  rmSync(models.dir, { recursive: true, force: true });
});

fronts('TF-Serving REST: int64, float16, uint8 and bool as JSON numbers and booleans', async () => {
  const ids = await post(`${url}/v1/models/ids:predict`, { instances: [[0, 3, 9, 1]] });
  assert.is(ids.status, 200, JSON.stringify(ids.body));
  assert.equal(
    ids.body.predictions[0].shifted,
    [0, 3, 9, 1].map((v) => 2 ** 40 + v),
  );
  const narrow = await post(`${url}/v1/models/narrow:predict`, {
    instances: [{ h: [1.5, -2], u: [7, 255], b: [true, false] }],
  });
  assert.is(narrow.status, 200, JSON.stringify(narrow.body));
  assert.equal(narrow.body.predictions[0], { h_squared: [2.25, 4], u_float: [7, 255], not_b: [false, true] });
  const past = await post(`${url}/v1/models/plus:predict`, { instances: [[2 ** 60, 1]] });
  assert.is(past.status, 400);
  assert.is(past.body.field, 'instances[0][0]', 'a JSON number past 2^53 is refused, not rounded');
});

fronts('KServe JSON: datatypes INT64, FP16, UINT8, BOOL in metadata, requests and answers', async () => {
  const meta = (await fetch(`${url}/v2/models/narrow`).then((r) => r.json())) as { inputs: { datatype: string }[] };
  assert.equal(
    meta.inputs.map((i: { datatype: string }) => i.datatype),
    ['FP16', 'UINT8', 'BOOL'],
  );
  const answer = await post(`${url}/v2/models/ids/infer`, {
    inputs: [{ name: 'ids', shape: [1, 4], datatype: 'INT64', data: [0, 1, 2, 3] }],
  });
  assert.is(answer.status, 200, JSON.stringify(answer.body));
  const shifted = answer.body.outputs.find((o: { name: string }) => o.name === 'shifted');
  assert.equal(shifted, {
    name: 'shifted',
    datatype: 'INT64',
    shape: [1, 4],
    data: [0, 1, 2, 3].map((v) => 2 ** 40 + v),
  });
  const narrow = await post(`${url}/v2/models/narrow/infer`, {
    inputs: [
      { name: 'h', shape: [1, 2], datatype: 'FP16', data: [0.5, 3] },
      { name: 'u', shape: [1, 2], datatype: 'UINT8', data: [1, 2] },
      { name: 'b', shape: [1, 2], datatype: 'BOOL', data: [false, true] },
    ],
  });
  assert.equal(narrow.body.outputs[0], { name: 'h_squared', datatype: 'FP16', shape: [1, 2], data: [0.25, 9] });
});

fronts(
  'KServe binary: int64 past 2^53 exact both ways; a JSON answer of such a value is refused naming it',
  async () => {
    const x = bytes(new BigInt64Array([big, -big]));
    const header = (binary: boolean) =>
      Buffer.from(
        JSON.stringify({
          inputs: [{ name: 'x', shape: [1, 2], datatype: 'INT64', parameters: { binary_data_size: x.byteLength } }],
          outputs: [{ name: 'y', parameters: { binary_data: binary } }],
        }),
      );
    const send = (binary: boolean) =>
      fetch(`${url}/v2/models/plus/infer`, {
        method: 'POST',
        headers: {
          'content-type': 'application/octet-stream',
          'inference-header-content-length': String(header(binary).byteLength),
        },
        body: Buffer.concat([header(binary), x]),
      });
    const response = await send(true);
    assert.is(response.status, 200);
    const body = Buffer.from(await response.arrayBuffer());
    const length = Number(response.headers.get('inference-header-content-length'));
    assert.equal(int64s(body.subarray(length)), [big + 1n, -big + 1n]);
    const json = await send(false);
    assert.is(json.status, 400);
    assert.is(((await json.json()) as { field: string }).field, 'outputs.y');
  },
);

fronts('int64 for an int32 input is taken value by value: one past int32 is refused with its index', async () => {
  const answer = await post(`${url}/v2/models/m/infer`, {
    inputs: [{ name: 'image', shape: [1, 16, 16, 3], datatype: 'FP16', data: new Array(768).fill(0.5) }],
  });
  assert.is(answer.status, 200, 'FP16 widens exactly to a float32 input');
  const ids = await post(`${url}/v2/models/ids/infer`, {
    inputs: [{ name: 'ids', shape: [1, 4], datatype: 'UINT8', data: [1, 2, 3, 4] }],
  });
  assert.is(ids.status, 200, 'uint8 widens exactly to an int64 input');
  const refused = await post(`${url}/v2/models/narrow/infer`, {
    inputs: [
      { name: 'h', shape: [1, 2], datatype: 'FP32', data: [1, 2] },
      { name: 'u', shape: [1, 2], datatype: 'UINT8', data: [1, 2] },
      { name: 'b', shape: [1, 2], datatype: 'BOOL', data: [true, true] },
    ],
  });
  assert.is(refused.status, 400);
  assert.is(refused.body.field, 'inputs.h.dtype', 'float32 would round into a float16 input');
});

fronts('gRPC KServe: INT64 typed and raw, FP16 raw; an FP16 output makes the answer raw', async () => {
  const typed = await unary(c.inference, 'ModelInfer', {
    model_name: 'ids',
    inputs: [{ name: 'ids', datatype: 'INT64', shape: [1, 4], contents: { int64_contents: [9, 8, 7, 6] } }],
  });
  assert.is(typed.error, undefined, typed.error?.message);
  const shifted = typed.response.outputs.find((o: { name: string }) => o.name === 'shifted');
  assert.equal(
    shifted.contents.int64_contents.map(Number),
    [9, 8, 7, 6].map((v) => 2 ** 40 + v),
  );
  const raw = await unary(c.inference, 'ModelInfer', {
    model_name: 'plus',
    inputs: [{ name: 'x', datatype: 'INT64', shape: [1, 2] }],
    raw_input_contents: [bytes(new BigInt64Array([big, 5n]))],
  });
  assert.equal(int64s(raw.response.raw_output_contents[0]), [big + 1n, 6n]);
  const narrow = await unary(c.inference, 'ModelInfer', {
    model_name: 'narrow',
    inputs: [
      { name: 'h', datatype: 'FP16', shape: [1, 2] },
      { name: 'u', datatype: 'UINT8', shape: [1, 2] },
      { name: 'b', datatype: 'BOOL', shape: [1, 2] },
    ],
    raw_input_contents: [
      bytes(new Uint16Array([floatToHalf(3), floatToHalf(-1)])),
      Buffer.from([4, 5]),
      Buffer.from([1, 1]),
    ],
  });
  assert.is(narrow.error, undefined, narrow.error?.message);
  assert.equal(halves(narrow.response.raw_output_contents[0]), [9, 1]);
  const wantsTyped = await unary(c.inference, 'ModelInfer', {
    model_name: 'narrow',
    inputs: [
      { name: 'h', datatype: 'UINT8', shape: [1, 2], contents: { uint_contents: [2, 3] } },
      { name: 'u', datatype: 'UINT8', shape: [1, 2], contents: { uint_contents: [4, 5] } },
      { name: 'b', datatype: 'BOOL', shape: [1, 2], contents: { bool_contents: [true, false] } },
    ],
  });
  assert.is(wantsTyped.error, undefined, wantsTyped.error?.message);
  assert.equal(halves(wantsTyped.response.raw_output_contents[0]), [4, 9], 'FP16 has no typed list: raw');
});

fronts('gRPC TF-Serving: DT_INT64 and DT_HALF (bits in half_val) in and out', async () => {
  const dims = (shape: number[]) => ({ dim: shape.map((size) => ({ size })) });
  const { response, error } = await unary(c.prediction, 'Predict', {
    model_spec: { name: 'narrow' },
    inputs: {
      h: { dtype: 'DT_HALF', tensor_shape: dims([1, 2]), half_val: [floatToHalf(2), floatToHalf(0.5)] },
      u: { dtype: 'DT_UINT8', tensor_shape: dims([1, 2]), int_val: [1, 2] },
      b: { dtype: 'DT_BOOL', tensor_shape: dims([1, 2]), bool_val: [false, false] },
    },
  });
  assert.is(error, undefined, error?.message);
  assert.equal(response.outputs.h_squared.half_val.map(halfToFloat), [4, 0.25]);
  assert.is(response.outputs.h_squared.dtype, 'DT_HALF');
  assert.equal(response.outputs.not_b.bool_val, [true, true]);
  const ids = await unary(c.prediction, 'Predict', {
    model_spec: { name: 'ids' },
    inputs: { ids: { dtype: 'DT_INT64', tensor_shape: dims([1, 4]), int64_val: [1, 1, 1, 1] } },
  });
  assert.equal(ids.response.outputs.shifted.int64_val.map(Number), new Array(4).fill(2 ** 40 + 1));
});

fronts('msgpack, the embedding API and RPC carry int64 and float16 as typed arrays', async () => {
  const frame = encodeMessage({
    type: 'infer',
    model: 'plus',
    inputs: { x: { dtype: 'int64', shape: [1, 2], data: new BigInt64Array([big, 0n]) } },
  });
  const response = await fetch(`${url}/v2/models/plus/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/msgpack' },
    body: Buffer.from(frame),
  });
  const result = decodeMessage(new Uint8Array(await response.arrayBuffer())) as InferResultMessage;
  assert.equal(Array.from(result.outputs.y.data as BigInt64Array), [big + 1n, 1n]);
  const server = http.server;
  const narrow = await server.infer('narrow', {
    h: { dtype: 'float16', shape: [1, 2], data: new Uint16Array([floatToHalf(1.5), floatToHalf(2)]) },
    u: { dtype: 'uint8', shape: [1, 2], data: new Uint8Array([1, 2]) },
    b: { dtype: 'bool', shape: [1, 2], data: new Uint8Array([0, 1]) },
  });
  assert.is(narrow.h_squared.dtype, 'float16');
  assert.equal(Array.from(narrow.h_squared.data as Uint16Array, halfToFloat), [2.25, 4]);
  const client = connectClient(server.connect());
  try {
    const remote = await client.infer('plus', {
      x: { dtype: 'int64', shape: [1, 2], data: new BigInt64Array([-big, 1n]) },
    });
    assert.equal(Array.from(remote.y.data as BigInt64Array), [-big + 1n, 2n]);
  } finally {
    client.close();
  }
});

rule.run();
fronts.run();
