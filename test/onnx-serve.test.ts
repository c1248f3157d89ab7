/**
 * An ONNX model served as any other: from a TF-Serving version directory holding model.onnx, beside a TF.js
 * model, through the embedding API, RPC, TF-Serving REST, KServe v2 and gRPC, under every policy (`deadline`
 * too) — and answering exactly what onnxruntime's own run() answers for the same input.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { PolicyName } from '../src/arbiter/layout.js';
import type { HttpServer } from '../src/http/http-server.js';
import { loadServeConfig } from '../src/http/config-file.js';
import { loadOrt } from '../src/onnx/ort.js';
import { connectClient } from '../src/protocol/client.js';
import { connect, unary, type Clients } from './fixtures/grpc/client.js';
import { imageRows, post, startTest, tinyModel } from './fixtures/http/helpers.js';
import { convStack, writeOnnxFixtures } from './fixtures/onnx-models.js';

const models = await writeOnnxFixtures();
const base = join(models.dir, 'served');
let http: HttpServer;
let c: Clients;

const image = (seed: number) => new Float32Array(3 * 16 * 16).map((_, i) => Math.sin(i * 0.3 + seed));

/** onnxruntime's own answer for one image, in this thread. */
async function reference(data: Float32Array): Promise<number[]> {
  const ort = await loadOrt();
  const session = await ort.InferenceSession.create(join(base, '1', 'model.onnx'), {
    executionProviders: ['cpu'],
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3,
  });
  try {
    const out = await session.run({ image: new ort.Tensor('float32', data, [1, 3, 16, 16]) });
    return Array.from(out.features.data as Float32Array);
  } finally {
    await session.release();
  }
}

/** Rows of [3][16][16] nested lists, as JSON clients send an NCHW image. */
const nested = (data: Float32Array) =>
  Array.from({ length: 3 }, (_, ch) =>
    Array.from({ length: 16 }, (_, y) => Array.from(data.subarray(ch * 256 + y * 16, ch * 256 + y * 16 + 16))),
  );

const close = (got: number[], want: number[], what: string) =>
  got.forEach((v, i) => assert.ok(Math.abs(v - want[i]) <= 1e-6 * Math.max(1, Math.abs(want[i])), `${what}[${i}]`));

const serve = suite('an ONNX model served beside a TF.js one, on every front, under every policy');

serve.before(async () => {
  await convStack(3, 8, 16).save(join(base, '1', 'model.onnx'));
  http = await startTest({
    grpcPort: 0,
    models: [{ name: 'onnx', basePath: base, maxBatch: 4, batchWindowUs: 1000 }, tinyModel('tf')],
    server: { backend: 'wasm', tokens: 2 },
  });
  c = connect(http.grpc!.target);
});

serve.after(async () => {
  c.close();
  await http.close();
  rmSync(models.dir, { recursive: true, force: true });
});

serve('metadata names the engine and the signature of the version directory', async () => {
  const meta = (await fetch(`${http.url}/v2/models/onnx`).then((r) => r.json())) as Record<string, unknown>;
  assert.is(meta.platform, 'onnxruntime_onnx');
  assert.equal(meta.versions, ['1']);
  assert.equal(meta.inputs, [{ name: 'image', datatype: 'FP32', shape: [-1, 3, 16, 16] }]);
  const tf = (await fetch(`${http.url}/v2/models/tf`).then((r) => r.json())) as Record<string, unknown>;
  assert.is(tf.platform, 'tensorflowjs');
});

for (const policy of ['fair', 'weighted', 'priority', 'deadline'] as const satisfies readonly PolicyName[]) {
  serve(`${policy}: every front answers what onnxruntime answers, TF.js served alongside`, async () => {
    http.server.setPolicy(policy);
    const data = image(policy.length);
    const want = await reference(data);
    // The embedding API knows a versioned model by its version's session (`onnx.v1.<n>`).
    const session = http.server.models.find((name) => name.startsWith('onnx.v1'))!;
    const client = connectClient(http.server.connect());
    try {
      const tensor = { dtype: 'float32' as const, shape: [1, 3, 16, 16], data };
      const [embedded, remote, tfserving, kserve, grpcKserve, grpcTf, tfjs] = await Promise.all([
        http.server.infer(session, { image: tensor }),
        client.infer(session, { image: tensor }),
        post(`${http.url}/v1/models/onnx:predict`, { instances: [nested(data)] }),
        post(`${http.url}/v2/models/onnx/infer`, {
          inputs: [{ name: 'image', shape: [1, 3, 16, 16], datatype: 'FP32', data: Array.from(data) }],
        }),
        unary(c.inference, 'ModelInfer', {
          model_name: 'onnx',
          inputs: [{ name: 'image', datatype: 'FP32', shape: [1, 3, 16, 16] }],
          raw_input_contents: [Buffer.from(data.buffer)],
        }),
        unary(c.prediction, 'Predict', {
          model_spec: { name: 'onnx' },
          inputs: {
            image: {
              dtype: 'DT_FLOAT',
              tensor_shape: { dim: [1, 3, 16, 16].map((size) => ({ size })) },
              float_val: Array.from(data),
            },
          },
        }),
        post(`${http.url}/v1/models/tf:predict`, { instances: [imageRows()] }),
      ]);
      close(Array.from(embedded.features.data as Float32Array), want, 'embedding');
      close(Array.from(remote.features.data as Float32Array), want, 'rpc');
      close(tfserving.body.predictions[0], want, 'tf-serving rest');
      close(kserve.body.outputs[0].data, want, 'kserve rest');
      const raw = grpcKserve.response.raw_output_contents[0] as Buffer;
      close(
        Array.from(new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength))),
        want,
        'grpc kserve',
      );
      close(grpcTf.response.outputs.features.float_val, want, 'grpc tf-serving');
      assert.is(tfjs.status, 200);
      assert.is(http.server.stats().policy, policy);
    } finally {
      client.close();
    }
  });
}

serve('olympian.json takes the ONNX options of a model', async () => {
  const dir = join(models.dir, 'config');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'olympian.json');
  writeFileSync(
    file,
    JSON.stringify({
      models: [{ name: 'o', basePath: base, executionProviders: ['cpu'], intraOpThreads: 1, segmentMs: 0 }],
    }),
  );
  const config = await loadServeConfig(file);
  assert.equal(config.models[0].executionProviders, ['cpu']);
  assert.is(config.models[0].segmentMs, 0);
  writeFileSync(file, JSON.stringify({ models: [{ name: 'o', basePath: base, executionProviders: 'cpu' }] }));
  try {
    await loadServeConfig(file);
    assert.unreachable('a string where a list goes');
  } catch (error) {
    assert.is((error as { field?: string }).field, 'models[0].executionProviders');
  }
});

serve.run();
