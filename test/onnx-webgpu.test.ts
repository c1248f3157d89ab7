/**
 * ONNX models on onnxruntime's WebGPU provider (bundled in onnxruntime-node on linux-x64), run in CI on Mesa's
 * lavapipe. Two sessions touching the WebGPU context at once crash the process (`free(): invalid pointer`,
 * already while both are created), so under the arbiter with one token every run, creation and release of a
 * GPU session happens holding it. Where no adapter exists, the suite prints why and skips.
 */
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { loadOrt } from '../src/onnx/ort.js';
import type { NamedTensors } from '../src/protocol/tensors.js';
import { createServer } from '../src/server/server.js';
import { writeOnnxFixtures } from './fixtures/onnx-models.js';

const models = await writeOnnxFixtures();

/** In a child process: a crash or a missing adapter there says "no WebGPU", and never takes the tests down. */
function probeOrtWebgpu(path: string): string | null {
  const script = `const ort = require('onnxruntime-node');
ort.InferenceSession.create(process.argv[1], { executionProviders: ['webgpu'], logSeverityLevel: 3 })
  .then((s) => s.release()).then(() => console.log('webgpu-ok'), (e) => { console.log(e.message); process.exit(2); });`;
  const child = spawnSync(process.execPath, ['-e', script, path], { encoding: 'utf8', timeout: 60_000 });
  if (child.stdout.includes('webgpu-ok')) return null;
  return (child.stdout + child.stderr).trim().split('\n').pop() || `exit ${child.status ?? child.signal}`;
}

const why = probeOrtWebgpu(models.conv);

const gpu = suite('onnx sessions on the WebGPU provider, under one token');

gpu.after(() => rmSync(models.dir, { recursive: true, force: true }));

const image = (size: number, seed: number): NamedTensors => ({
  image: {
    dtype: 'float32',
    shape: [1, 3, size, size],
    data: new Float32Array(3 * size * size).map((_, i) => Math.sin(i * 0.1 + seed)),
  },
});

gpu('several models on webgpu with concurrent clients: no crash, outputs equal the CPU provider’s', async () => {
  const ort = await loadOrt();
  const cpu = {
    deep: await ort.InferenceSession.create(models.deep, { executionProviders: ['cpu'] } as never),
    conv: await ort.InferenceSession.create(models.conv, { executionProviders: ['cpu'] } as never),
  };
  const expected = async (name: 'deep' | 'conv', inputs: NamedTensors) => {
    const t = inputs.image;
    const out = await cpu[name].run({ image: new ort.Tensor('float32', t.data as Float32Array, t.shape) });
    return out.features.data as Float32Array;
  };
  // Instances start side by side (Promise.allSettled in ServedModel): their sessions are created under the token.
  const server = await createServer({
    tokens: 1,
    sessions: [
      { name: 'deep', model: models.deep, executionProviders: ['webgpu'], instances: 2 },
      { name: 'conv', model: models.conv, executionProviders: ['webgpu'] },
      { name: 'split', model: models.deep, executionProviders: ['webgpu'], segmentMs: 0.1 },
    ],
  });
  try {
    assert.is(server.sessionInfo('deep').backend.flags.providers, 'webgpu');
    assert.ok(server.sessionInfo('split').kernelsPerInference > 1, 'a split model on webgpu too');
    const checks: Promise<void>[] = [];
    for (let client = 0; client < 3; client++) {
      for (const [name, model, size] of [
        ['deep', 'deep', 32],
        ['conv', 'conv', 16],
        ['split', 'deep', 32],
      ] as const) {
        checks.push(
          (async () => {
            for (let i = 0; i < 4; i++) {
              const inputs = image(size, client * 10 + i);
              const want = await expected(model, inputs);
              const got = (await server.infer(name, inputs)).features.data as Float32Array;
              got.forEach((v, k) =>
                assert.ok(
                  Math.abs(v - want[k]) <= 1e-4 * Math.max(1, Math.abs(want[k])),
                  `${name}[${k}]: ${v} vs ${want[k]}`,
                ),
              );
            }
          })(),
        );
      }
    }
    await Promise.all(checks);
    const stats = server.stats();
    assert.is(stats.tokens, 1);
    assert.ok(stats.sessions.every((s) => s.inferences >= 12));
  } finally {
    await server.close();
    await Promise.all(Object.values(cpu).map((s) => s.release()));
  }
});

if (why) {
  console.log(`skip: onnx webgpu tests — no WebGPU adapter for onnxruntime (${why}); CI installs mesa-vulkan-drivers`);
  rmSync(models.dir, { recursive: true, force: true });
} else gpu.run();
