/**
 * Every RPC of the gRPC front with a grpc-js client, on the test models: `m` (tiny conv net, input `image`
 * [batch,16,16,3] float32, output `logits` [batch,10]) and `two` (inputs `a` float32 and `n` int32, both
 * [batch,3]; outputs `scaled_sum` = (a + n) * [1,10,100] and `n_squared`).
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as loader from '@grpc/proto-loader';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { loadProtos } from '../src/grpc/protos.js';
import type { HttpServer } from '../src/http/http-server.js';
import { connect, unary, type Clients } from './fixtures/grpc/client.js';
import { post, startTest, tinyModel, twoIoModel } from './fixtures/http/helpers.js';

let http: HttpServer;
let c: Clients;

const twoTyped = (a: number[], n: number[], rows = a.length / 3) => [
  { name: 'a', datatype: 'FP32', shape: [rows, 3], contents: { fp32_contents: a } },
  { name: 'n', datatype: 'INT32', shape: [rows, 3], contents: { int_contents: n } },
];
const f32 = (values: number[]) => Buffer.from(new Float32Array(values).buffer);
const i32 = (values: number[]) => Buffer.from(new Int32Array(values).buffer);
const fromF32 = (bytes: Buffer) =>
  Array.from(new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)));
const fromI32 = (bytes: Buffer) =>
  Array.from(new Int32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)));
const dims = (shape: number[]) => ({ dim: shape.map((size) => ({ size })) });

function image(batch = 1, fill = (i: number) => Math.sin(i)): Float32Array {
  const data = new Float32Array(batch * 16 * 16 * 3);
  for (let i = 0; i < data.length; i++) data[i] = fill(i);
  return data;
}

const kserve = suite('gRPC: KServe v2 (inference.GRPCInferenceService)');
kserve.before(async () => {
  http = await startTest({ grpcPort: 0, models: [tinyModel('m'), { name: 'two', model: twoIoModel }] });
  c = connect(http.grpc!.target);
});
kserve.after(async () => {
  c.close();
  await http.close();
});

kserve('ServerLive, ServerReady, ServerMetadata; ModelReady and ModelMetadata by name and version', async () => {
  assert.equal((await unary(c.inference, 'ServerLive', {})).response, { live: true });
  assert.equal((await unary(c.inference, 'ServerReady', {})).response, { ready: true });
  assert.equal((await unary(c.inference, 'ServerMetadata', {})).response, {
    name: 'olympian',
    version: '0.1.0',
    extensions: [],
  });
  assert.equal((await unary(c.inference, 'ModelReady', { name: 'two' })).response, { ready: true });
  assert.equal((await unary(c.inference, 'ModelReady', { name: 'two', version: '1' })).response, { ready: true });
  const meta = (await unary(c.inference, 'ModelMetadata', { name: 'two', version: '1' })).response;
  assert.equal(meta, {
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
});

kserve('ModelInfer with typed contents: two inputs, two outputs, the id echoed, answered typed', async () => {
  const { response, headers } = await unary(
    c.inference,
    'ModelInfer',
    { model_name: 'two', id: 'req-7', inputs: twoTyped([1, 2, 3, 0.5, 0, -1], [4, 5, 6, 1, 1, 1]) },
    { metadata: { 'x-request-id': 'trace-1' } },
  );
  assert.is(response.id, 'req-7');
  assert.is(response.model_name, 'two');
  assert.is(response.model_version, '1');
  assert.equal(response.raw_output_contents, []);
  assert.equal(
    response.outputs.map((o: any) => [o.name, o.datatype, o.shape]),
    [
      ['scaled_sum', 'FP32', [2, 3]],
      ['n_squared', 'INT32', [2, 3]],
    ],
  );
  assert.equal(response.outputs[0].contents.fp32_contents, [5, 70, 900, 1.5, 10, 0]);
  assert.equal(response.outputs[1].contents.int_contents, [16, 25, 36, 1, 1, 1]);
  assert.equal(headers!.get('x-request-id'), ['trace-1']);
});

kserve('ModelInfer with raw_input_contents: multi-input, multi-output, answered raw in the order asked', async () => {
  const { response, error } = await unary(c.inference, 'ModelInfer', {
    model_name: 'two',
    inputs: [
      { name: 'n', datatype: 'INT32', shape: [2, 3] },
      { name: 'a', datatype: 'FP32', shape: [2, 3] },
    ],
    raw_input_contents: [i32([4, 5, 6, 1, 1, 1]), f32([1, 2, 3, 0.5, 0, -1])],
    outputs: [{ name: 'n_squared' }, { name: 'scaled_sum' }],
  });
  assert.is(error, undefined, error?.message);
  assert.equal(
    response.outputs.map((o: any) => [o.name, o.contents]),
    [
      ['n_squared', null],
      ['scaled_sum', null],
    ],
  );
  assert.equal(fromI32(response.raw_output_contents[0]), [16, 25, 36, 1, 1, 1]);
  assert.equal(fromF32(response.raw_output_contents[1]), [5, 70, 900, 1.5, 10, 0]);
});

kserve('requested outputs: only those are returned', async () => {
  const { response } = await unary(c.inference, 'ModelInfer', {
    model_name: 'two',
    inputs: twoTyped([1, 2, 3], [1, 2, 3]),
    outputs: [{ name: 'n_squared' }],
  });
  assert.equal(
    response.outputs.map((o: any) => o.name),
    ['n_squared'],
  );
  assert.equal(response.outputs[0].contents.int_contents, [1, 4, 9]);
});

kserve('narrower and wider datatypes are taken as over REST: UINT8 and FP16 raw, INT64 typed', async () => {
  const half = Buffer.from(new Uint16Array([0x3c00, 0x4000, 0xc200]).buffer); // 1, 2, -3
  const { response, error } = await unary(c.inference, 'ModelInfer', {
    model_name: 'two',
    inputs: [
      { name: 'a', datatype: 'FP16', shape: [1, 3] },
      { name: 'n', datatype: 'UINT8', shape: [1, 3] },
    ],
    raw_input_contents: [half, Buffer.from([1, 2, 3])],
  });
  assert.is(error, undefined, error?.message);
  assert.equal(fromF32(response.raw_output_contents[0]), [2, 40, 0]);
  const typed = await unary(c.inference, 'ModelInfer', {
    model_name: 'two',
    inputs: [
      { name: 'a', datatype: 'FP32', shape: [1, 3], contents: { fp32_contents: [0, 0, 0] } },
      { name: 'n', datatype: 'INT64', shape: [1, 3], contents: { int64_contents: [7, -1, 2] } },
    ],
  });
  assert.equal(typed.response.outputs[1].contents.int_contents, [49, 1, 4]);
});

kserve('a version pin: the served version answers, another is NOT_FOUND', async () => {
  const pinned = await unary(c.inference, 'ModelInfer', {
    model_name: 'two',
    model_version: '1',
    inputs: twoTyped([1, 1, 1], [0, 0, 0]),
  });
  assert.is(pinned.response.model_version, '1');
  const other = await unary(c.inference, 'ModelInfer', {
    model_name: 'two',
    model_version: '2',
    inputs: twoTyped([1, 1, 1], [0, 0, 0]),
  });
  assert.is(other.error?.code, grpc.status.NOT_FOUND);
  assert.is((await unary(c.inference, 'ModelReady', { name: 'two', version: '2' })).error?.code, grpc.status.NOT_FOUND);
});

kserve(
  'the same numbers from gRPC typed, gRPC raw, TF-Serving Predict, REST JSON, REST binary and the embedding API',
  async () => {
    const data = image(2);
    const expected = Array.from(
      (await http.server.infer('m', { image: { dtype: 'float32', shape: [2, 16, 16, 3], data } })).logits
        .data as Float32Array,
    );
    const values = Array.from(data);
    const typed = await unary(c.inference, 'ModelInfer', {
      model_name: 'm',
      inputs: [{ name: 'image', datatype: 'FP32', shape: [2, 16, 16, 3], contents: { fp32_contents: values } }],
    });
    const raw = await unary(c.inference, 'ModelInfer', {
      model_name: 'm',
      inputs: [{ name: 'image', datatype: 'FP32', shape: [2, 16, 16, 3] }],
      raw_input_contents: [Buffer.from(data.buffer)],
    });
    const tf = await unary(c.prediction, 'Predict', {
      model_spec: { name: 'm' },
      inputs: {
        image: { dtype: 'DT_FLOAT', tensor_shape: dims([2, 16, 16, 3]), tensor_content: Buffer.from(data.buffer) },
      },
    });
    const json = await post(`${http.url}/v2/models/m/infer`, {
      inputs: [{ name: 'image', datatype: 'FP32', shape: [2, 16, 16, 3], data: values }],
    });
    const header = Buffer.from(
      JSON.stringify({
        inputs: [
          { name: 'image', datatype: 'FP32', shape: [2, 16, 16, 3], parameters: { binary_data_size: data.byteLength } },
        ],
        parameters: { binary_data_output: true },
      }),
    );
    const binary = await fetch(`${http.url}/v2/models/m/infer`, {
      method: 'POST',
      headers: { 'inference-header-content-length': String(header.byteLength) },
      body: Buffer.concat([header, Buffer.from(data.buffer)]),
    });
    const binaryBody = Buffer.from(await binary.arrayBuffer());
    const headerLength = Number(binary.headers.get('inference-header-content-length'));
    const asF32 = (list: number[]) => Array.from(Float32Array.from(list));
    assert.equal(typed.response.outputs[0].contents.fp32_contents, expected, 'gRPC typed');
    assert.equal(fromF32(raw.response.raw_output_contents[0]), expected, 'gRPC raw');
    assert.equal(fromF32(tf.response.outputs.logits.tensor_content), expected, 'TF-Serving gRPC');
    assert.equal(asF32(json.body.outputs[0].data), expected, 'REST JSON');
    assert.equal(fromF32(binaryBody.subarray(headerLength)), expected, 'REST binary');
  },
);

const tfs = suite('gRPC: TF-Serving (tensorflow.serving.PredictionService, ModelService)');
tfs.before(async () => {
  http = await startTest({ grpcPort: 0, models: [tinyModel('m'), { name: 'two', model: twoIoModel }] });
  c = connect(http.grpc!.target);
});
tfs.after(async () => {
  c.close();
  await http.close();
});

tfs('Predict with typed values: named inputs and outputs, the model spec answered with its version', async () => {
  const { response, error } = await unary(c.prediction, 'Predict', {
    model_spec: { name: 'two', signature_name: 'serving_default' },
    inputs: {
      a: { dtype: 'DT_FLOAT', tensor_shape: dims([2, 3]), float_val: [1, 2, 3, 0.5, 0, -1] },
      n: { dtype: 'DT_INT32', tensor_shape: dims([2, 3]), int_val: [4, 5, 6, 1, 1, 1] },
    },
  });
  assert.is(error, undefined, error?.message);
  assert.equal(response.model_spec.name, 'two');
  assert.equal(response.model_spec.version, { value: 1 });
  assert.equal(Object.keys(response.outputs).sort(), ['n_squared', 'scaled_sum']);
  assert.is(response.outputs.scaled_sum.dtype, 'DT_FLOAT');
  assert.equal(
    response.outputs.scaled_sum.tensor_shape.dim.map((d: any) => d.size),
    [2, 3],
  );
  assert.equal(response.outputs.scaled_sum.float_val, [5, 70, 900, 1.5, 10, 0]);
  assert.equal(response.outputs.n_squared.int_val, [16, 25, 36, 1, 1, 1]);
  assert.is(response.outputs.n_squared.tensor_content.byteLength, 0);
});

tfs('Predict with tensor_content answers in tensor_content; output_filter and a version pin are honoured', async () => {
  const { response, error } = await unary(c.prediction, 'Predict', {
    model_spec: { name: 'two', version: { value: 1 } },
    inputs: {
      a: { dtype: 'DT_FLOAT', tensor_shape: dims([1, 3]), tensor_content: f32([1, 2, 3]) },
      n: { dtype: 'DT_INT32', tensor_shape: dims([1, 3]), tensor_content: i32([1, 1, 1]) },
    },
    output_filter: ['scaled_sum'],
  });
  assert.is(error, undefined, error?.message);
  assert.equal(Object.keys(response.outputs), ['scaled_sum']);
  assert.equal(fromF32(response.outputs.scaled_sum.tensor_content), [2, 30, 400]);
  assert.equal(response.outputs.scaled_sum.float_val, []);
  const wrong = await unary(c.prediction, 'Predict', {
    model_spec: { name: 'two', version: { value: 3 } },
    inputs: {},
  });
  assert.is(wrong.error?.code, grpc.status.NOT_FOUND);
  const label = await unary(c.prediction, 'Predict', {
    model_spec: { name: 'two', version_label: 'stable' },
    inputs: {},
  });
  assert.is(label.error?.code, grpc.status.NOT_FOUND);
});

tfs('Predict: a typed list of one value fills the shape (the TensorProto rule)', async () => {
  const { response } = await unary(c.prediction, 'Predict', {
    model_spec: { name: 'two' },
    inputs: {
      a: { dtype: 'DT_FLOAT', tensor_shape: dims([2, 3]), float_val: [1] },
      n: { dtype: 'DT_INT64', tensor_shape: dims([2, 3]), int64_val: [2] },
    },
  });
  assert.equal(response.outputs.scaled_sum.float_val, [3, 30, 300, 3, 30, 300]);
});

tfs('GetModelMetadata: the serving_default signature in an Any holding a SignatureDefMap', async () => {
  const { response } = await unary(c.prediction, 'GetModelMetadata', {
    model_spec: { name: 'two' },
    metadata_field: ['signature_def'],
  });
  assert.equal(response.model_spec.version, { value: 1 });
  const any = response.metadata.signature_def;
  assert.is(any.type_url, 'type.googleapis.com/tensorflow.serving.SignatureDefMap');
  const type = loadProtos().root.lookupType('tensorflow.serving.SignatureDefMap');
  const map = type.toObject(type.decode(any.value), { enums: String, longs: Number }) as any;
  const signature = map.signature_def.serving_default;
  assert.is(signature.method_name, 'tensorflow/serving/predict');
  assert.equal(Object.keys(signature.inputs), ['a', 'n']);
  assert.equal(signature.inputs.n, {
    name: 'n:0',
    dtype: 'DT_INT32',
    tensor_shape: { dim: [{ size: -1 }, { size: 3 }] },
  });
  assert.equal(Object.keys(signature.outputs), ['scaled_sum', 'n_squared']);
});

tfs('GetModelStatus: every version with its state; an unknown version is NOT_FOUND', async () => {
  const { response } = await unary(c.model, 'GetModelStatus', { model_spec: { name: 'm' } });
  assert.equal(response, {
    model_version_status: [{ version: 1, state: 'AVAILABLE', status: { error_code: 'OK', error_message: '' } }],
  });
  assert.is(
    (await unary(c.model, 'GetModelStatus', { model_spec: { name: 'm', version: { value: 9 } } })).error?.code,
    grpc.status.NOT_FOUND,
  );
});

const health = suite('gRPC: health and reflection');
health.before(async () => {
  http = await startTest({ grpcPort: 0, models: [tinyModel('m')] });
  c = connect(http.grpc!.target);
});
health.after(async () => {
  c.close();
  await http.close();
});

health('Check: the server, each served service and each model by name; NOT_FOUND for another name', async () => {
  for (const service of [
    '',
    'inference.GRPCInferenceService',
    'tensorflow.serving.PredictionService',
    'tensorflow.serving.ModelService',
    'm',
  ]) {
    assert.equal((await unary(c.health, 'Check', { service })).response, { status: 'SERVING' }, service);
  }
  assert.is((await unary(c.health, 'Check', { service: 'nope' })).error?.code, grpc.status.NOT_FOUND);
});

health(
  'Watch: the status now; an unknown name is SERVICE_UNKNOWN; the stream ends with NOT_SERVING at shutdown',
  async () => {
    const watch = (service: string) => {
      const seen: string[] = [];
      const stream = (c.health.Watch as Function).call(c.health, { service }) as grpc.ClientReadableStream<{
        status: string;
      }>;
      stream.on('data', (message) => seen.push(message.status));
      const ended = new Promise<void>((resolve) => {
        stream.on('end', resolve);
        stream.on('error', () => resolve());
      });
      return { seen, ended };
    };
    const server = watch('');
    const unknown = watch('nope');
    const waitUntil = async (check: () => boolean) => {
      for (let i = 0; i < 500 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 5));
    };
    await waitUntil(() => server.seen.length > 0 && unknown.seen.length > 0);
    assert.equal(server.seen, ['SERVING']);
    assert.equal(unknown.seen, ['SERVICE_UNKNOWN']);
    await http.close();
    await Promise.all([server.ended, unknown.ended]);
    assert.equal(server.seen, ['SERVING', 'NOT_SERVING']);
  },
);

health('server reflection lists every service and describes them (what grpcurl reads)', async () => {
  http = await startTest({ grpcPort: 0, models: [tinyModel('m')] });
  c.close();
  c = connect(http.grpc!.target);
  const reflectionDir = join(dirname(createRequire(import.meta.url).resolve('@grpc/reflection')), '../proto');
  const definition = loader.loadSync('grpc/reflection/v1/reflection.proto', {
    includeDirs: [reflectionDir],
    keepCase: true,
  });
  const Reflection = (grpc.loadPackageDefinition(definition) as any).grpc.reflection.v1.ServerReflection;
  const client = new Reflection(http.grpc!.target, grpc.credentials.createInsecure());
  const stream = client.ServerReflectionInfo();
  const answers: any[] = [];
  const done = new Promise<void>((resolve, reject) => {
    stream.on('data', (answer: any) => {
      answers.push(answer);
      if (answers.length === 2) stream.end();
    });
    stream.on('end', resolve);
    stream.on('error', reject);
  });
  stream.write({ list_services: '*' });
  stream.write({ file_containing_symbol: 'inference.GRPCInferenceService' });
  await done;
  client.close();
  const names = answers[0].list_services_response.service.map((s: { name: string }) => s.name);
  for (const name of [
    'inference.GRPCInferenceService',
    'tensorflow.serving.PredictionService',
    'tensorflow.serving.ModelService',
    'grpc.health.v1.Health',
  ])
    assert.ok(names.includes(name), names.join(', '));
  const files: Buffer[] = answers[1].file_descriptor_response.file_descriptor_proto;
  assert.ok(Buffer.concat(files).includes('ModelInfer'));
});

kserve.run();
tfs.run();
health.run();
