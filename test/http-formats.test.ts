/** The JSON tensor formats and the error mapping alone: no server, no threads. */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { negotiateCoding } from '../src/http/compress.js';
import { errorResponse, HttpError, HttpErrorCode, statusOfCode } from '../src/http/errors.js';
import { tensorFromJson, stackRows, rowsOf, toNested } from '../src/http/json-tensors.js';
import { BinaryBody, decodeBinaryTensor, halfToFloat } from '../src/http/kserve-binary.js';
import { parseV2Request } from '../src/http/kserve.js';
import { parsePredict, predictAnswer } from '../src/http/tfserving.js';
import { ErrorCode, Errors, OlympianError } from '../src/protocol/errors.js';
import type { ModelSignature } from '../src/protocol/signature.js';

const codeOf = (fn: () => unknown): { code?: string; field?: string } => {
  try {
    fn();
  } catch (error) {
    return error as OlympianError;
  }
  assert.unreachable('expected an error');
  return {};
};

const json = suite('JSON tensors');

json('nested lists become a flat typed array and a shape; bools and ints are checked', () => {
  const t = tensorFromJson(
    [
      [1, 2, 3],
      [4, 5, 6],
    ],
    'float32',
    'x',
  );
  assert.equal(t.shape, [2, 3]);
  assert.instance(t.data, Float32Array);
  assert.equal(Array.from(t.data as ArrayLike<number>), [1, 2, 3, 4, 5, 6]);
  assert.equal(tensorFromJson(7, 'int32', 'x').shape, []);
  assert.equal(Array.from(tensorFromJson([true, false], 'bool', 'x').data as Uint8Array), [1, 0]);
  assert.equal(codeOf(() => tensorFromJson([1.5], 'int32', 'x')).field, 'x[0]');
  assert.equal(codeOf(() => tensorFromJson([2 ** 31], 'int32', 'x')).field, 'x[0]');
  assert.equal(codeOf(() => tensorFromJson(['a'], 'float32', 'x')).field, 'x[0]');
  assert.equal(codeOf(() => tensorFromJson([null], 'float32', 'x')).field, 'x[0]');
});

json('ragged and mixed-depth lists are refused naming the place', () => {
  assert.equal(codeOf(() => tensorFromJson([[1, 2], [3]], 'float32', 'in')).field, 'in[1]');
  assert.equal(codeOf(() => tensorFromJson([[1, 2], 3], 'float32', 'in')).field, 'in[1]');
  assert.equal(codeOf(() => tensorFromJson([1, [2]], 'float32', 'in')).field, 'in[1]');
});

json('{"b64"} stands for the raw little-endian bytes of the block the signature expects there', () => {
  const values = new Float32Array([1.5, -2, 3.25, 4, 5, 6]);
  const b64 = Buffer.from(values.buffer).toString('base64');
  const whole = tensorFromJson({ b64 }, 'float32', 'x', [2, 3]);
  assert.equal(whole.shape, [2, 3]);
  assert.equal(Array.from(whole.data as ArrayLike<number>), Array.from(values));
  const rows = tensorFromJson(
    [
      { b64: Buffer.from(values.buffer, 0, 12).toString('base64') },
      { b64: Buffer.from(values.buffer, 12).toString('base64') },
    ],
    'float32',
    'x',
    [null, 3],
  );
  assert.equal(rows.shape, [2, 3]);
  assert.equal(tensorFromJson({ b64 }, 'float32', 'x', [null, 3]).shape, [2, 3], 'one free dimension is inferred');
  assert.equal(codeOf(() => tensorFromJson({ b64 }, 'float32', 'x', [4, 4])).field, 'x');
  assert.equal(codeOf(() => tensorFromJson({ b64: 'AAA' }, 'float32', 'x', [1])).field, 'x');
});

json('rows stack on a batch axis and split back; bools answer as booleans', () => {
  const stacked = stackRows(
    [tensorFromJson([1, 2], 'float32', 'a'), tensorFromJson([3, 4], 'float32', 'a')],
    'instances',
  );
  assert.equal(stacked.shape, [2, 2]);
  assert.equal(rowsOf(stacked, 'y'), [
    [1, 2],
    [3, 4],
  ]);
  assert.equal(
    codeOf(() => stackRows([tensorFromJson([1, 2], 'float32', 'a'), tensorFromJson([3], 'float32', 'a')], 'instances'))
      .field,
    'instances[1]',
  );
  assert.equal(toNested({ dtype: 'bool', shape: [2], data: new Uint8Array([1, 0]) }), [true, false]);
  const bytes = rowsOf({ dtype: 'uint8', shape: [1, 3], data: new Uint8Array([104, 105, 33]) }, 'out_bytes');
  assert.equal(bytes, [{ b64: Buffer.from('hi!').toString('base64') }]);
});

json('nesting is bounded: 32 dimensions are taken, 33 refused naming the tensor, without walking it', () => {
  const nest = (depth: number): unknown => (depth === 0 ? 1 : [nest(depth - 1)]);
  assert.equal(tensorFromJson(nest(32), 'float32', 'x').shape, Array(32).fill(1));
  const refused = codeOf(() => tensorFromJson(nest(33), 'float32', 'x'));
  assert.equal([refused.code, refused.field], ['INVALID_ARGUMENT', 'x']);
  assert.equal(codeOf(() => tensorFromJson([[1], [nest(5000)]], 'float32', 'x')).field, 'x[1][0]');
});

json('b64 blocks must agree in shape; bool leaves take true, false, 0 and 1', () => {
  const block = (n: number) => ({ b64: Buffer.from(new Float32Array(n).buffer).toString('base64') });
  assert.equal(tensorFromJson([block(3), block(3)], 'float32', 'x', [null, null]).shape, [2, 3]);
  assert.equal(codeOf(() => tensorFromJson([block(3), block(6)], 'float32', 'x', [null, null])).field, 'x[1]');
  assert.equal(codeOf(() => tensorFromJson([block(3), 1], 'float32', 'x', [null, null])).field, 'x[1]');
  assert.equal(
    Array.from(
      tensorFromJson(
        [
          [true, 0],
          [1, false],
        ],
        'bool',
        'x',
      ).data as Uint8Array,
    ),
    [1, 0, 1, 0],
  );
  assert.equal(codeOf(() => tensorFromJson([[true, 2]], 'bool', 'x')).field, 'x[0][1]');
});

json.run();

const twoIo: ModelSignature = {
  inputs: [
    { name: 'a', dtype: 'float32', shape: [null, 3] },
    { name: 'n', dtype: 'int32', shape: [null, 3] },
  ],
  outputs: [
    { name: 'scaled_sum', dtype: 'float32', shape: [null, 3] },
    { name: 'n_squared', dtype: 'int32', shape: [null, 3] },
  ],
};

const tfs = suite('TF-Serving predict format');

tfs('row format with named inputs stacks instances; columnar takes whole tensors', () => {
  const row = parsePredict({
    instances: [
      { a: [1, 2, 3], n: [1, 2, 3] },
      { a: [4, 5, 6], n: [4, 5, 6] },
    ],
  });
  assert.is(row.format, 'row');
  const inputs = row.build(twoIo);
  assert.equal(inputs.a.shape, [2, 3]);
  assert.instance(inputs.n.data, Int32Array);
  const columnar = parsePredict({ signature_name: 'serving_default', inputs: { a: [[1, 2, 3]], n: [[1, 2, 3]] } });
  assert.is(columnar.format, 'columnar');
  assert.equal(columnar.build(twoIo).n.shape, [1, 3]);
});

tfs('bad requests name the key at fault', () => {
  assert.is(codeOf(() => parsePredict({})).field, 'instances');
  assert.is(codeOf(() => parsePredict({ instances: [], inputs: {} })).field, 'instances');
  assert.is(codeOf(() => parsePredict({ instances: [1], extra: 1 })).field, 'extra');
  assert.is(codeOf(() => parsePredict({ signature_name: 'classify', instances: [1] })).field, 'signature_name');
  assert.is(codeOf(() => parsePredict({ instances: [] }).build(twoIo)).field, 'instances');
  assert.is(codeOf(() => parsePredict({ instances: [[1, 2, 3]] }).build(twoIo)).field, 'instances[0]');
  assert.is(codeOf(() => parsePredict({ instances: [{ a: [1, 2, 3] }] }).build(twoIo)).field, 'instances[0].n');
  assert.is(
    codeOf(() => parsePredict({ instances: [{ a: [1, 2, 3], n: [1, 2, 3], z: 1 }] }).build(twoIo)).field,
    'instances[0].z',
  );
  assert.is(
    codeOf(() => parsePredict({ inputs: { a: [[1, 2, 3]], n: [[1.5, 2, 3]] } }).build(twoIo)).field,
    'inputs.n[0][0]',
  );
});

tfs('answers: predictions per instance (objects for several outputs), outputs for columnar', () => {
  const outputs = {
    scaled_sum: { dtype: 'float32' as const, shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6]) },
    n_squared: { dtype: 'int32' as const, shape: [2, 3], data: new Int32Array([1, 4, 9, 16, 25, 36]) },
  };
  assert.equal(predictAnswer('row', outputs, twoIo), {
    predictions: [
      { scaled_sum: [1, 2, 3], n_squared: [1, 4, 9] },
      { scaled_sum: [4, 5, 6], n_squared: [16, 25, 36] },
    ],
  });
  assert.equal(predictAnswer('columnar', outputs, twoIo), {
    outputs: {
      scaled_sum: [
        [1, 2, 3],
        [4, 5, 6],
      ],
      n_squared: [
        [1, 4, 9],
        [16, 25, 36],
      ],
    },
  });
  const one = { ...twoIo, outputs: [twoIo.outputs[0]] };
  assert.equal(predictAnswer('row', { scaled_sum: outputs.scaled_sum }, one), {
    predictions: [
      [1, 2, 3],
      [4, 5, 6],
    ],
  });
});

tfs.run();

const v2 = suite('KServe v2 request format');

v2('flat or nested data reshaped to the declared shape; each datatype kept as sent; outputs filtered', () => {
  const parsed = parseV2Request({
    id: '42',
    inputs: [
      { name: 'a', shape: [2, 3], datatype: 'FP32', data: [1, 2, 3, 4, 5, 6] },
      {
        name: 'n',
        shape: [2, 3],
        datatype: 'INT64',
        data: [
          [1, 2, 3],
          [4, 5, 6],
        ],
      },
    ],
    outputs: [{ name: 'n_squared', parameters: { binary_data: true } }],
  });
  assert.is(parsed.id, '42');
  assert.equal(parsed.inputs.n.shape, [2, 3]);
  assert.instance(parsed.inputs.n.data, BigInt64Array, 'INT64 stays int64: the dtype rule decides what an input takes');
  assert.equal(parsed.outputs, ['n_squared']);
  assert.ok(parsed.binary.has('n_squared'));
  assert.is(
    codeOf(() => parseV2Request({ inputs: [{ name: 'a', shape: [2, 2], datatype: 'FP32', data: [1, 2, 3] }] })).field,
    'inputs[0].data',
  );
  assert.is(
    codeOf(() => parseV2Request({ inputs: [{ name: 'a', shape: [1], datatype: 'STRING', data: [1] }] })).field,
    'inputs[0].datatype',
  );
  assert.is(codeOf(() => parseV2Request({ inputs: [] })).field, 'inputs');
  assert.is(
    codeOf(() => parseV2Request({ inputs: [{ name: 'a', shape: [-1], datatype: 'FP32', data: [] }] })).field,
    'inputs[0].shape',
  );
});

v2('binary tensors: little-endian bytes after the JSON header, sizes checked', () => {
  const a = Buffer.from(new Float32Array([1, 2, 3]).buffer);
  const n = Buffer.from(new BigInt64Array([1n, 2n, 3n]).buffer);
  const header = {
    inputs: [
      { name: 'a', shape: [1, 3], datatype: 'FP32', parameters: { binary_data_size: 12 } },
      { name: 'n', shape: [1, 3], datatype: 'INT64', parameters: { binary_data_size: 24 } },
    ],
  };
  const parsed = parseV2Request(new BinaryBody(header, Buffer.concat([a, n])));
  assert.equal(Array.from(parsed.inputs.a.data as ArrayLike<number>), [1, 2, 3]);
  assert.equal(Array.from(parsed.inputs.n.data as BigInt64Array), [1n, 2n, 3n]);
  assert.is(codeOf(() => parseV2Request(new BinaryBody(header, a))).field, 'inputs[1].parameters.binary_data_size');
  assert.is(codeOf(() => parseV2Request(new BinaryBody(header, Buffer.concat([a, n, a])))).field, 'body');
  const half = decodeBinaryTensor(Buffer.from(new Uint16Array([0x3c00, 0xc000]).buffer), 'FP16', 'float16', [2], 'x');
  assert.equal(Array.from(half.data as Uint16Array, halfToFloat), [1, -2]);
});

v2.run();

const mapping = suite('error mapping');

mapping('every code has its HTTP status and the one body shape', () => {
  const expected: Record<string, number> = {
    INVALID_ARGUMENT: 400,
    NOT_FOUND: 404,
    TOO_LARGE: 413,
    QUEUE_FULL: 429,
    QUOTA_EXCEEDED: 429,
    DEADLINE_EXCEEDED: 504,
    UNAVAILABLE: 503,
    SESSION_CRASHED: 503,
    RESOURCE_EXHAUSTED: 507,
    CANCELLED: 499,
    INVALID_CONFIG: 400,
    BACKEND_UNAVAILABLE: 503,
    MODEL_LOAD_FAILED: 500,
    INTERNAL: 500,
  };
  for (const code of Object.values(ErrorCode)) {
    const { status, body } = errorResponse(
      new OlympianError(code, `x ${code}`, { field: 'f', session: 'm.v3.1' }),
      'rid',
    );
    assert.is(status, expected[code], code);
    assert.equal(body, { error: `x ${code}`, code, field: 'f', model: 'm', requestId: 'rid' });
  }
  assert.is(errorResponse(new HttpError(HttpErrorCode.UNAUTHENTICATED, 'no', 'authorization'), 'r').status, 401);
  const bug = errorResponse(new TypeError('oops'), 'r');
  assert.is(bug.status, 500);
  assert.is(bug.body.code, 'INTERNAL');
  const fastify = errorResponse(
    Object.assign(new Error('too big'), { code: 'FST_ERR_CTP_BODY_TOO_LARGE', statusCode: 413 }),
    'r',
  );
  assert.equal([fastify.status, fastify.body.code, fastify.body.field], [413, 'TOO_LARGE', 'body']);
  assert.is(statusOfCode[Errors.tooLarge('x', 'y').code], 413);
});

mapping('Accept-Encoding: gzip on a tie, q-values honoured, * for codings not named', () => {
  const cases: Array<[string | undefined, string | null]> = [
    [undefined, null],
    ['identity', null],
    ['gzip', 'gzip'],
    ['deflate', 'deflate'],
    ['gzip, deflate', 'gzip'],
    ['*', 'gzip'],
    ['deflate;q=0.5, gzip;q=0.4', 'deflate'],
    ['gzip;q=0, *', 'deflate'],
    ['gzip;q=0, deflate;q=0', null],
    ['br, x-gzip', 'gzip'],
    ['*;q=0', null],
  ];
  for (const [header, expected] of cases) assert.is(negotiateCoding(header), expected, String(header));
});

mapping.run();
