import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { OlympianError } from '../src/protocol/errors.js';
import type { NamedTensors } from '../src/protocol/tensors.js';
import { createServer } from '../src/server/server.js';
import { call, imageRows, startTest, tinyModel } from './fixtures/http/helpers.js';
import { image, tinySession } from './helpers-server.js';

/** A small deterministic generator, so a failure can be replayed. */
function mulberry32(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Case = { model: unknown; inputs: unknown; options?: object };

const malformed: Array<(random: () => number) => Case> = [
  () => ({ model: 'missing', inputs: image() }),
  () => ({ model: 'm', inputs: {} }),
  () => ({ model: 'm', inputs: null }),
  () => ({ model: 'm', inputs: 'image' }),
  () => ({ model: 'm', inputs: [1, 2, 3] }),
  () => ({ model: 'm', inputs: { ...image(), bonus: image().image } }),
  (r) => ({
    model: 'm',
    inputs: { image: { ...image().image, dtype: ['int32', 'bool', 'x', 7][Math.floor(r() * 4)] } },
  }),
  (r) => ({ model: 'm', inputs: { image: { ...image().image, shape: [1, 16, 16, Math.floor(r() * 3) + 4] } } }),
  () => ({ model: 'm', inputs: { image: { ...image().image, shape: [1, 16, -16, 3] } } }),
  () => ({ model: 'm', inputs: { image: { ...image().image, shape: 'big' } } }),
  (r) => ({ model: 'm', inputs: { image: { ...image().image, data: new Float32Array(Math.floor(r() * 700)) } } }),
  () => ({ model: 'm', inputs: { image: { ...image().image, data: Array.from({ length: 768 }, () => 0) } } }),
  () => ({ model: 'm', inputs: { image: { ...image().image, data: new Uint8Array(768) } } }),
  () => ({ model: 'm', inputs: new Float32Array(5) }),
  () => ({ model: 'm', inputs: image(16, Math.sin, 9) }),
  () => ({ model: 'm', inputs: image(), options: { deadlineMs: -5 } }),
  () => ({ model: 'm', inputs: image(), options: { priority: 0.5 } }),
  () => ({ model: 42, inputs: image() }),
  (r) => {
    const [dtype, Type] = (
      [
        ['float64', Float64Array],
        ['int32', Int32Array],
        ['bool', Uint8Array],
      ] as const
    )[Math.floor(r() * 3)];
    return { model: 'm', inputs: { image: { dtype, shape: [1, 16, 16, 3], data: new Type(768) } } };
  },
  () => ({ model: 'm', inputs: { image: { dtype: 'float32', shape: [0, 16, 16, 3], data: new Float32Array(0) } } }),
  () => {
    const gone = image();
    structuredClone(gone.image.data.buffer, { transfer: [gone.image.data.buffer as ArrayBuffer] });
    return { model: 'm', inputs: gone };
  },
  () => ({ model: 'm', inputs: image(), options: { transfer: 'yes' } }),
  () => ({ model: 'm', inputs: { toString: image().image, image: image().image } }),
  () => ({ model: 'm', inputs: JSON.parse('{"__proto__": {"dtype": "float32"}}') }),
];

const fuzz = suite('fuzz: malformed requests mixed with valid ones');

fuzz(
  '1,000 malformed requests each get a typed error; every valid one (shared arrays, large batches) a correct answer; nothing leaks',
  async () => {
    const server = await createServer({
      backend: 'wasm',
      maxRequestBytes: 8 * 768 * 4,
      sessions: [tinySession('m', {}, { maxBatch: 4, batchWindowUs: 200 })],
    });
    try {
      const random = mulberry32(20261127);
      const references = new Map<number, Float32Array>();
      const fills = [0, 1, 2, 3].map((k) => (i: number) => Math.cos(i * (k + 1)));
      for (let k = 0; k < fills.length; k++)
        references.set(k, (await server.infer('m', image(16, fills[k]))).logits.data as Float32Array);

      let bad = 0;
      let good = 0;
      const work: Promise<void>[] = [];
      while (bad < 1000) {
        if (random() < 0.25) {
          const k = Math.floor(random() * fills.length);
          // One array sent two or three times at once, as several callers sharing an input would: each call is
          // its own request (batched together here), and none may disturb another.
          const input = image(16, fills[k]);
          const copies = 1 + Math.floor(random() * 3);
          for (let c = 0; c < copies; c++) {
            good++;
            work.push(
              server.infer('m', input).then((out: NamedTensors) => {
                assert.equal(
                  Array.from(out.logits.data as ArrayLike<number>),
                  Array.from(references.get(k)!),
                  'a valid request got a wrong answer',
                );
              }),
            );
          }
        } else if (random() < 0.05) {
          // A batch larger than maxBatch: split into pieces (4 + 2 items, two runs of the session), answered whole.
          good += 2;
          const row = image(16, fills[0]).image.data;
          const big = { image: { dtype: 'float32' as const, shape: [6, 16, 16, 3], data: new Float32Array(6 * 768) } };
          for (let r = 0; r < 6; r++) big.image.data.set(row as Float32Array, r * 768);
          work.push(
            server.infer('m', big).then((out: NamedTensors) => {
              assert.equal(out.logits.shape, [6, 10]);
              for (let row = 0; row < 6; row++) {
                const slice = Array.from(out.logits.data.subarray(row * 10, row * 10 + 10) as ArrayLike<number>);
                slice.forEach((v, i) =>
                  assert.ok(Math.abs(v - references.get(0)![i]) < 1e-5, 'a split batch got a wrong answer'),
                );
              }
            }),
          );
        } else {
          const c = malformed[Math.floor(random() * malformed.length)](random);
          bad++;
          work.push(
            server.infer(c.model as string, c.inputs as NamedTensors, c.options).then(
              () => assert.unreachable(`a malformed request was answered: ${JSON.stringify(c).slice(0, 200)}`),
              (error) => {
                assert.instance(error, OlympianError, `untyped error ${error}`);
                assert.ok(['INVALID_ARGUMENT', 'NOT_FOUND', 'TOO_LARGE'].includes(error.code), error.code);
              },
            ),
          );
        }
        if (work.length >= 32) await Promise.all(work.splice(0));
      }
      await Promise.all(work);
      const row = server.stats().sessions[0];
      assert.is(row.inferences, good + fills.length, 'only valid requests ran');
      assert.is(row.restarts, 0);
      assert.is(row.liveTensors, row.baselineTensors, 'live tensors back at their baseline');
      assert.is(row.state, 'ready');
      assert.ok(good > 200, `valid requests: ${good}`);
    } finally {
      await server.close();
    }
  },
);

fuzz.run();

const overHttp = suite('fuzz: malformed HTTP bodies mixed with valid ones');

/** A JSON text nested `depth` deep around one number (no recursion in building it). */
const nested = (depth: number) => '['.repeat(depth) + '1' + ']'.repeat(depth);

const badBodies: Array<(r: () => number) => { path: string; body: string; headers?: Record<string, string> }> = [
  (r) => ({
    path: '/v2/models/m/infer',
    body: `{"inputs":[{"name":"image","shape":[1,16,16,3],"datatype":"FP32","data":${nested(1000 + Math.floor(r() * 20000))}}]}`,
  }),
  (r) => ({ path: '/v1/models/m:predict', body: `{"instances":${nested(100 + Math.floor(r() * 20000))}}` }),
  () => ({
    path: '/v2/models/m/infer',
    body: '{"inputs":[{"name":"image","shape":[1,16,16,3],"datatype":"FP64","data":[1]}]}',
  }),
  () => ({
    path: '/v2/models/m/infer',
    body: `{"inputs":[{"name":"image","shape":[0,16,16,3],"datatype":"FP32","data":[]}]}`,
  }),
  () => ({
    path: '/v2/models/m/infer',
    body: `{"inputs":[{"name":"image","shape":[99999,99999,16,3],"datatype":"FP32","data":[1]}]}`,
  }),
  () => ({
    path: '/v2/models/m/infer',
    body: '{"inputs":[{"name":"__proto__","shape":[1],"datatype":"FP32","data":[1]}]}',
  }),
  () => ({
    path: '/v2/models/m/infer',
    body: '{"inputs":[{"name":"image","shape":[1,16,16,3],"datatype":"toString","data":[1]}]}',
  }),
  (r) => ({ path: '/v2/models/m/infer', body: '{"inputs":[{"name":"image"'.slice(0, Math.floor(r() * 25)) }),
  () => ({ path: '/v1/models/m:predict', body: '{"instances":[[[[1,2,3]]]],"inputs":[]}' }),
  (r) => ({
    path: '/v2/models/m/infer',
    body: '{"inputs":[]}',
    headers: { 'inference-header-content-length': String(Math.floor(r() * 1e6)) },
  }),
];

overHttp('every malformed body is a 4xx with a code; valid requests are answered; the server stays up', async () => {
  const http = await startTest({ models: [tinyModel('m', {}, { maxBatch: 4 })] });
  try {
    const random = mulberry32(20261129);
    const valid = JSON.stringify({ instances: [imageRows()] });
    const outcomes = new Map<string, number>();
    for (let i = 0; i < 200; i++) {
      const bad = random() < 0.8;
      const {
        path,
        body,
        headers = {},
      } = bad
        ? badBodies[Math.floor(random() * badBodies.length)](random)
        : { path: '/v1/models/m:predict', body: valid, headers: {} };
      const answer = await call(`${http.url}${path}`, {
        method: 'POST',
        body,
        headers: { 'content-type': 'application/json', ...headers },
      });
      if (bad) {
        assert.ok(
          answer.status >= 400 && answer.status < 500,
          `${answer.status} for ${body.slice(0, 80)}: ${JSON.stringify(answer.body).slice(0, 200)}`,
        );
        assert.type(answer.body.code, 'string');
        outcomes.set(answer.body.code, (outcomes.get(answer.body.code) ?? 0) + 1);
      } else {
        assert.is(answer.status, 200, JSON.stringify(answer.body).slice(0, 200));
      }
    }
    assert.ok((outcomes.get('INVALID_ARGUMENT') ?? 0) > 0);
    const row = http.server.stats().sessions[0];
    assert.equal([row.state, row.restarts], ['ready', 0]);
  } finally {
    await http.close();
  }
});

overHttp.run();
