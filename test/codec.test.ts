import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Packr } from 'msgpackr';
import { decodeMessage, encodeMessage, type InferRequestMessage } from '../src/protocol/codec.js';
import { ErrorCode, OlympianError } from '../src/protocol/errors.js';
import { arrayTypeOf, dtypes, type WireTensor } from '../src/protocol/tensors.js';

const codec = suite('wire codec (msgpackr)');

const request = (inputs: Record<string, WireTensor>): InferRequestMessage => ({
  type: 'infer',
  id: 7,
  model: 'm',
  inputs,
  deadlineMs: 50,
  priority: 2,
});

function rejects(bytes: Uint8Array, field: string) {
  try {
    decodeMessage(bytes);
  } catch (error) {
    assert.instance(error, OlympianError);
    assert.is((error as OlympianError).code, ErrorCode.INVALID_ARGUMENT);
    assert.is((error as OlympianError).field, field, (error as Error).message);
    return;
  }
  assert.unreachable(`expected a rejection naming ${field}`);
}

codec('round-trips a tensor of every dtype, bit for bit', () => {
  for (const dtype of dtypes) {
    const data = new (arrayTypeOf(dtype))(6);
    for (let i = 0; i < 6; i++) {
      const value = dtype === 'bool' ? i % 2 : (i - 2) * (dtype === 'float32' || dtype === 'float64' ? 1.25 : 3);
      (data as { [i: number]: number | bigint })[i] = dtype === 'int64' || dtype === 'uint64' ? BigInt(value) : value;
    }
    const decoded = decodeMessage(encodeMessage(request({ x: { dtype, shape: [2, 3], data } }))) as InferRequestMessage;
    assert.is(decoded.inputs.x.dtype, dtype);
    assert.equal(decoded.inputs.x.shape, [2, 3]);
    assert.is(decoded.inputs.x.data.constructor, data.constructor, dtype);
    assert.equal(Array.from(decoded.inputs.x.data as ArrayLike<number>), Array.from(data as ArrayLike<number>), dtype);
  }
});

codec('round-trips zero-size and large tensors, and results and errors', () => {
  const empty = decodeMessage(
    encodeMessage(request({ e: { dtype: 'float32', shape: [0, 4], data: new Float32Array(0) } })),
  ) as InferRequestMessage;
  assert.equal(empty.inputs.e.shape, [0, 4]);
  assert.is(empty.inputs.e.data.length, 0);
  const big = new Float32Array(4 * 2 ** 20).map((_, i) => i);
  const decoded = decodeMessage(
    encodeMessage(request({ b: { dtype: 'float32', shape: [big.length], data: big } })),
  ) as InferRequestMessage;
  assert.is(decoded.inputs.b.data.length, big.length);
  assert.is(decoded.inputs.b.data[big.length - 1], big.length - 1);
  assert.is(decoded.inputs.b.data.byteOffset % 4, 0, 'decoded into an aligned buffer');
  const result = decodeMessage(
    encodeMessage({
      type: 'result',
      id: 'r',
      outputs: { y: { dtype: 'int32', shape: [1], data: new Int32Array([5]) } },
    }),
  );
  assert.equal(result, {
    type: 'result',
    id: 'r',
    outputs: { y: { dtype: 'int32', shape: [1], data: new Int32Array([5]) } },
  });
  const error = decodeMessage(
    encodeMessage({ type: 'error', id: 1, error: { code: ErrorCode.QUEUE_FULL, message: 'full', session: 'm' } }),
  );
  assert.equal(error, { type: 'error', id: 1, error: { code: 'QUEUE_FULL', message: 'full', session: 'm' } });
});

codec('rejects malformed frames with INVALID_ARGUMENT naming the field', () => {
  const good = encodeMessage(request({ x: { dtype: 'float32', shape: [2], data: new Float32Array(2) } }));
  rejects(good.subarray(0, good.length - 5), 'frame');
  rejects(new Uint8Array([0xc1]), 'frame');
  const raw = new Packr({ moreTypes: true, useRecords: false });
  rejects(raw.pack([1, 2, 3]), 'frame');
  rejects(raw.pack({ type: 'nope' }), 'type');
  rejects(raw.pack({ type: 'infer', model: 3, inputs: {} }), 'model');
  rejects(raw.pack({ type: 'infer', model: 'm', inputs: [] }), 'inputs');
  rejects(raw.pack({ type: 'infer', model: 'm', inputs: {}, priority: 1.5 }), 'priority');
  rejects(raw.pack({ type: 'infer', model: 'm', inputs: {}, id: {} }), 'id');
  rejects(
    raw.pack({ type: 'infer', model: 'm', inputs: { x: { dtype: 'float32', shape: [3], data: new Float32Array(2) } } }),
    'inputs.x.data',
  );
  rejects(
    raw.pack({ type: 'infer', model: 'm', inputs: { x: { dtype: 'float32', shape: [2], data: new Int32Array(2) } } }),
    'inputs.x.data',
  );
  rejects(
    raw.pack({
      type: 'infer',
      model: 'm',
      inputs: { x: { dtype: 'float32', shape: [-2], data: new Float32Array(2) } },
    }),
    'inputs.x.shape',
  );
  rejects(
    raw.pack({ type: 'infer', model: 'm', inputs: { x: { dtype: 'half', shape: [2], data: new Float32Array(2) } } }),
    'inputs.x.dtype',
  );
  rejects(
    raw.pack({ type: 'infer', model: 'm', inputs: { x: { dtype: 'float32', shape: [2], data: [1, 2] } } }),
    'inputs.x.data',
  );
  rejects(raw.pack({ type: 'result', outputs: 5 }), 'outputs');
  rejects(raw.pack({ type: 'error', error: { code: 5 } }), 'error');
});

codec.run();
