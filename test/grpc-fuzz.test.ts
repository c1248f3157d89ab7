/**
 * 1,000 malformed messages against the gRPC front, from a seeded generator (the same cases every run): random
 * bytes, valid requests cut short or with bits flipped, and well-formed messages with wrong contents (bad
 * datatypes and dtypes, shapes that do not match the values, huge and negative dimensions, stray content
 * lists, raw and typed at once, odd parameters, map keys like `__proto__`). Every answer must be a success or
 * a typed refusal (a status a caller can act on, with olympian's code in its details); none may be INTERNAL
 * or UNKNOWN, no session may crash, and the server must answer a valid request at the end.
 */
import * as grpc from '@grpc/grpc-js';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { loadProtos } from '../src/grpc/protos.js';
import type { HttpServer } from '../src/http/http-server.js';
import { ErrorCode } from '../src/protocol/errors.js';
import { errorDetails } from './fixtures/grpc/client.js';
import { startTest, tinyModel, twoIoModel } from './fixtures/http/helpers.js';

const kCases = 1000;

/** mulberry32: small, seeded, good enough to pick cases. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const rand = random(17);
const int = (n: number) => Math.floor(rand() * n);
const pick = <T>(items: readonly T[]): T => items[int(items.length)];
const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => int(256)));

const { root } = loadProtos();
const encode = (type: string, value: object) => {
  const message = root.lookupType(type);
  return Buffer.from(message.encode(message.fromObject(value)).finish());
};

const methods = {
  infer: ['/inference.GRPCInferenceService/ModelInfer', 'inference.ModelInferRequest'],
  predict: ['/tensorflow.serving.PredictionService/Predict', 'tensorflow.serving.PredictRequest'],
  metadata: ['/inference.GRPCInferenceService/ModelMetadata', 'inference.ModelMetadataRequest'],
  tfMetadata: ['/tensorflow.serving.PredictionService/GetModelMetadata', 'tensorflow.serving.GetModelMetadataRequest'],
  status: ['/tensorflow.serving.ModelService/GetModelStatus', 'tensorflow.serving.GetModelStatusRequest'],
  ready: ['/inference.GRPCInferenceService/ModelReady', 'inference.ModelReadyRequest'],
  health: ['/grpc.health.v1.Health/Check', 'grpc.health.v1.HealthCheckRequest'],
} as const;

const models = ['two', 'm', 'nope', '', '__proto__', 'two'];
const datatypes = [
  'FP32',
  'INT32',
  'FP16',
  'FP64',
  'INT64',
  'UINT8',
  'BOOL',
  'BYTES',
  'UINT64',
  'fp32',
  '',
  'COMPLEX64',
];
const dtypes = [
  'DT_FLOAT',
  'DT_INT32',
  'DT_HALF',
  'DT_DOUBLE',
  'DT_INT64',
  'DT_UINT8',
  'DT_BOOL',
  'DT_STRING',
  'DT_INVALID',
  'DT_UINT64',
  'DT_COMPLEX64',
  'DT_RESOURCE',
];
const names = ['a', 'n', 'image', '', '__proto__', 'constructor', 'a'];
const lists = [
  'fp32_contents',
  'int_contents',
  'int64_contents',
  'uint_contents',
  'uint64_contents',
  'fp64_contents',
  'bool_contents',
  'bytes_contents',
];
const tfLists = ['float_val', 'int_val', 'int64_val', 'double_val', 'bool_val', 'half_val', 'uint32_val', 'uint64_val'];

function shape(): number[] {
  return Array.from({ length: int(4) === 0 ? int(40) : 1 + int(3) }, () =>
    pick([0, 1, 2, 3, 3, 16, -1, 2 ** 31, 2 ** 40, Number.MAX_SAFE_INTEGER]),
  );
}

function values(list: string, count: number): unknown[] {
  return Array.from({ length: count }, () => {
    if (list.startsWith('bool')) return rand() < 0.5;
    if (list.startsWith('bytes')) return bytes(int(4));
    if (list.startsWith('uint')) return pick([0, 1, 255, 65536, 2 ** 32 - 1]);
    if (list.startsWith('fp') || list.startsWith('float') || list.startsWith('double'))
      return pick([0, 1.5, -2, 1e30, NaN, Infinity]);
    return pick([0, 1, -1, 127, 128, 2 ** 31 - 1, -(2 ** 31), 70000]);
  });
}

function inferRequest(): object {
  const raw = rand() < 0.5;
  const inputs = Array.from({ length: int(4) }, () => {
    const input: Record<string, unknown> = { name: pick(names), datatype: pick(datatypes), shape: shape() };
    if (!raw || rand() < 0.2) input.contents = { [pick(lists)]: values(pick(lists), pick([0, 1, 3, 6, 7])) };
    if (rand() < 0.1) input.parameters = { binary_data_size: { int64_param: int(100) } };
    return input;
  });
  const request: Record<string, unknown> = { model_name: pick(models), inputs };
  if (raw) request.raw_input_contents = Array.from({ length: int(4) }, () => bytes(pick([0, 1, 12, 24, 13])));
  if (rand() < 0.3) request.model_version = pick(['1', '2', '', '-1', 'x']);
  if (rand() < 0.3) request.outputs = [{ name: pick(['scaled_sum', 'n_squared', 'nope', '', 'scaled_sum']) }];
  if (rand() < 0.3)
    request.parameters = {
      [pick(['priority', 'timeout', '__proto__', 'other'])]: pick([
        { int64_param: -5 },
        { uint64_param: 3 },
        { string_param: 'x' },
        { bool_param: true },
        { double_param: 1.5 },
        {},
      ]),
    };
  return request;
}

function predictRequest(): object {
  const inputs: Record<string, unknown> = {};
  for (let i = int(4); i > 0; i--) {
    const tensor: Record<string, unknown> = {
      dtype: pick(dtypes),
      tensor_shape: rand() < 0.1 ? { unknown_rank: true } : { dim: shape().map((size) => ({ size })) },
    };
    if (rand() < 0.4) tensor.tensor_content = bytes(pick([0, 1, 12, 24]));
    if (rand() < 0.7) tensor[pick(tfLists)] = values(pick(tfLists), pick([0, 1, 3, 6]));
    inputs[pick(names)] = tensor;
  }
  const spec: Record<string, unknown> = { name: pick(models), signature_name: pick(['', 'serving_default', 'other']) };
  if (rand() < 0.3) {
    if (rand() < 0.5) spec.version = { value: pick([1, 2, -3]) };
    else spec.version_label = pick(['stable', '']);
  }
  return { model_spec: spec, inputs, output_filter: rand() < 0.3 ? [pick(['scaled_sum', 'nope', 'n_squared'])] : [] };
}

function semantic(method: keyof typeof methods): Buffer {
  const type = methods[method][1];
  switch (method) {
    case 'infer':
      return encode(type, inferRequest());
    case 'predict':
      return encode(type, predictRequest());
    case 'tfMetadata':
      return encode(type, {
        model_spec: { name: pick(models) },
        metadata_field: [pick(['signature_def', 'graph', ''])],
      });
    case 'status':
      return encode(type, { model_spec: { name: pick(models), version: { value: pick([1, 5, -1]) } } });
    case 'health':
      return encode(type, { service: pick([...models, 'inference.GRPCInferenceService']) });
    default:
      return encode(type, { name: pick(models), version: pick(['', '1', '9']) });
  }
}

/** A valid request, cut short or with a few bits flipped. */
function damaged(): [keyof typeof methods, Buffer] {
  const method = pick(['infer', 'predict'] as const);
  const valid =
    method === 'infer'
      ? encode(methods.infer[1], {
          model_name: 'two',
          inputs: [
            { name: 'a', datatype: 'FP32', shape: [1, 3], contents: { fp32_contents: [1, 2, 3] } },
            { name: 'n', datatype: 'INT32', shape: [1, 3] },
          ],
          raw_input_contents: [],
        })
      : encode(methods.predict[1], {
          model_spec: { name: 'two' },
          inputs: {
            a: { dtype: 'DT_FLOAT', tensor_shape: { dim: [{ size: 1 }, { size: 3 }] }, float_val: [1, 2, 3] },
            n: { dtype: 'DT_INT32', tensor_shape: { dim: [{ size: 1 }, { size: 3 }] }, int_val: [1, 2, 3] },
          },
        });
  const out = Buffer.from(valid);
  if (rand() < 0.3) return [method, out.subarray(0, int(out.length))];
  for (let flips = 1 + int(4); flips > 0; flips--) out[int(out.length)] ^= 1 << int(8);
  return [method, out];
}

function nextCase(i: number): [keyof typeof methods, Buffer] {
  const kind = i % 3;
  if (kind === 0) return [pick(Object.keys(methods) as Array<keyof typeof methods>), bytes(int(120))];
  if (kind === 1) return damaged();
  const method = pick([
    'infer',
    'infer',
    'predict',
    'predict',
    'metadata',
    'tfMetadata',
    'status',
    'ready',
    'health',
  ] as const);
  return [method, semantic(method)];
}

/** What a caller can act on: everything but INTERNAL, UNKNOWN and the rest that mean "the server broke". */
const typedStatuses = new Set([
  grpc.status.INVALID_ARGUMENT,
  grpc.status.NOT_FOUND,
  grpc.status.RESOURCE_EXHAUSTED,
  grpc.status.DEADLINE_EXCEEDED,
  grpc.status.FAILED_PRECONDITION,
]);
const knownCodes = new Set<string>(Object.values(ErrorCode));

let http: HttpServer;
const fuzz = suite('gRPC fuzz: malformed messages');
fuzz.before(async () => {
  http = await startTest({ grpcPort: 0, models: [tinyModel('m'), { name: 'two', model: twoIoModel }] });
});
fuzz.after(async () => http.close());

fuzz(`${kCases} malformed messages: each answered, each refusal typed with details, nothing crashes`, async () => {
  const client = new grpc.Client(http.grpc!.target, grpc.credentials.createInsecure());
  const identity = (b: Buffer) => b;
  const send = (path: string, body: Buffer) =>
    new Promise<{ error: grpc.ServiceError | null }>((resolve) =>
      client.makeUnaryRequest(path, identity, identity, body, { deadline: Date.now() + 20_000 }, (error) =>
        resolve({ error }),
      ),
    );
  const tally = new Map<string, number>();
  const cases = Array.from({ length: kCases }, (_, i) => nextCase(i));
  for (let start = 0; start < cases.length; start += 8) {
    const answers = await Promise.all(
      cases
        .slice(start, start + 8)
        .map(([method, body]) => send(methods[method][0], body).then((a) => ({ ...a, method, body }))),
    );
    for (const { error, method, body } of answers) {
      const where = `${method} ${body.toString('hex').slice(0, 120)}`;
      if (error === null) {
        tally.set('OK', (tally.get('OK') ?? 0) + 1);
        continue;
      }
      assert.ok(typedStatuses.has(error.code), `${grpc.status[error.code]} (${error.details}) for ${where}`);
      const details = errorDetails(error);
      assert.ok(details, `no status details for ${where}: ${error.details}`);
      assert.ok(knownCodes.has(details!.reason), `reason ${details!.reason} for ${where}`);
      tally.set(details!.reason, (tally.get(details!.reason) ?? 0) + 1);
    }
  }
  client.close();
  const total = [...tally.values()].reduce((a, b) => a + b, 0);
  assert.is(total, kCases);
  assert.ok((tally.get('INVALID_ARGUMENT') ?? 0) > kCases / 3, JSON.stringify(Object.fromEntries(tally)));
  assert.ok(
    http.server.stats().sessions.every((s) => s.restarts === 0),
    'no session crashed',
  );
  const out = await http.server.infer('two', {
    a: { dtype: 'float32', shape: [1, 3], data: new Float32Array([1, 2, 3]) },
    n: { dtype: 'int32', shape: [1, 3], data: new Int32Array([1, 1, 1]) },
  });
  assert.equal(Array.from(out.scaled_sum.data as ArrayLike<number>), [2, 30, 400]);
});

fuzz.run();
