/**
 * Names the client chooses (input and output names, datatypes) that are also the names of
 * Object.prototype's members: on every front each is "not an input (output) of this model", never
 * "duplicates", a missing input, or a 500. `m` takes `image` [batch,16,16,3] and answers `logits`.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { HttpServer } from '../src/http/http-server.js';
import { decodeMessage, encodeMessage } from '../src/protocol/codec.js';
import { call, imageRows, post, startTest, tinyModel, type Answer } from './fixtures/http/helpers.js';

let http: HttpServer;
let url: string;

const names = ['toString', '__proto__', 'constructor', 'hasOwnProperty', 'valueOf'];
/** `{ [name]: value }` as an own property, even for "__proto__" (a literal would set the prototype instead). */
const own = (name: string, value: unknown) =>
  Object.defineProperty({}, name, { value, enumerable: true, configurable: true, writable: true });
const pixels = () => imageRows().flat(2);
const image = { name: 'image', shape: [1, 16, 16, 3], datatype: 'FP32', data: pixels() };

function refused(answer: Answer, field: string, what: string, label: string): void {
  assert.equal(
    [answer.status, answer.body.code, answer.body.field],
    [400, 'INVALID_ARGUMENT', field],
    `${label}: ${JSON.stringify(answer.body)}`,
  );
  assert.match(answer.body.error, `is not an ${what} of this model`, label);
}

/** A KServe binary-extension request: the JSON header, then the inputs' bytes. */
function binaryInfer(header: object, tensors: Float32Array[]) {
  const json = Buffer.from(JSON.stringify(header));
  const body = Buffer.concat([json, ...tensors.map((t) => Buffer.from(t.buffer))]);
  return call(`${url}/v2/models/m/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(json.byteLength) },
    body,
  });
}

const lookups = suite('names that are Object.prototype members');
lookups.before(async () => {
  http = await startTest({ models: [tinyModel('m')] });
  url = http.url;
});
lookups.after(async () => http.close());

lookups('KServe JSON: as an input name, and as an output name', async () => {
  for (const name of names) {
    refused(await post(`${url}/v2/models/m/infer`, { inputs: [{ ...image, name }] }), 'inputs[0].name', 'input', name);
    refused(
      await post(`${url}/v2/models/m/infer`, { inputs: [image, { ...image, name }] }),
      'inputs[1].name',
      'input',
      name,
    );
    refused(
      await post(`${url}/v2/models/m/infer`, { inputs: [image], outputs: [{ name }] }),
      'outputs[0].name',
      'output',
      name,
    );
  }
});

lookups('KServe binary tensors: as an input name, and as an output name', async () => {
  const bytes = new Float32Array(pixels());
  const input = (name: string) => ({
    name,
    shape: [1, 16, 16, 3],
    datatype: 'FP32',
    parameters: { binary_data_size: bytes.byteLength },
  });
  for (const name of names) {
    refused(await binaryInfer({ inputs: [input(name)] }, [bytes]), 'inputs[0].name', 'input', name);
    refused(
      await binaryInfer({ inputs: [input('image')], outputs: [{ name, parameters: { binary_data: true } }] }, [bytes]),
      'outputs[0].name',
      'output',
      name,
    );
  }
});

lookups('KServe: as a datatype, it is not a datatype', async () => {
  for (const name of names) {
    const answer = await post(`${url}/v2/models/m/infer`, { inputs: [{ ...image, datatype: name }] });
    assert.equal(
      [answer.status, answer.body.code, answer.body.field],
      [400, 'INVALID_ARGUMENT', 'inputs[0].datatype'],
      name,
    );
  }
});

lookups('TF-Serving rows and columns: as an input name', async () => {
  for (const name of names) {
    refused(
      await post(`${url}/v1/models/m:predict`, { instances: [own(name, imageRows())] }),
      `instances[0].${name}`,
      'input',
      name,
    );
    refused(
      await post(`${url}/v1/models/m:predict`, { inputs: own(name, [imageRows()]) }),
      `inputs.${name}`,
      'input',
      name,
    );
  }
});

lookups('msgpack: as an input name', async () => {
  for (const name of names) {
    const frame = encodeMessage({
      type: 'infer',
      model: 'm',
      inputs: own(name, { dtype: 'float32', shape: [1, 16, 16, 3], data: new Float32Array(pixels()) }),
    });
    const answer = await call(`${url}/v2/models/m/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/msgpack' },
      body: Buffer.from(frame),
    });
    const error = decodeMessage(answer.body as Uint8Array);
    assert.is(answer.status, 400, name);
    assert.ok(error.type === 'error');
    // msgpackr itself renames a "__proto__" key to "__proto_" as it decodes.
    assert.equal(
      [error.error.code, error.error.field],
      ['INVALID_ARGUMENT', `inputs.${name === '__proto__' ? '__proto_' : name}`],
      name,
    );
    assert.match(error.error.message, 'is not an input of this model', name);
  }
});

lookups('the real names still work beside them', async () => {
  assert.is((await post(`${url}/v2/models/m/infer`, { inputs: [image], outputs: [{ name: 'logits' }] })).status, 200);
  assert.is((await post(`${url}/v1/models/m:predict`, { instances: [{ image: imageRows() }] })).status, 200);
});

lookups.run();
