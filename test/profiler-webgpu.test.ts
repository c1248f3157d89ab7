import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import * as tf from '../src/device/tfjs.js';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { DeviceArbiter } from '../src/arbiter/arbiter.js';
import { loadModel } from '../src/models/index.js';
import {
  GpuKernelTimer,
  launchKey,
  predictTotalMs,
  readProfile,
  recordModel,
  runProfileCommand,
  sequenceHash,
  type BatchRecording,
  type Profile,
} from '../src/profiler/index.js';
import { ErrorCode, OlympianError } from '../src/protocol/errors.js';
import { initBackend } from '../src/device/backend.js';
import { Session } from '../src/workers/session.js';
import { gpuIdle, probeWebgpu } from '../src/device/webgpu.js';

const adapter = await probeWebgpu().catch((error: Error) => {
  console.log(
    `skip: webgpu profiler tests — ${error.message} (CI installs mesa-vulkan-drivers from bookworm-backports)`,
  );
  return null;
});

// The smallest zoo model (mobilenet_v2 at its minimum input size, ~260 kernels): a profile of it on lavapipe
// takes about a second.
const zoo = { zoo: 'mobilenet_v2', inputSize: 32, seed: 1 };
const batches = [1, 2];
const input = (batch: number) => ({
  dtype: 'float32' as const,
  shape: [batch, 32, 32, 3],
  data: new Float32Array(batch * 32 * 32 * 3).fill(0.25),
});

const gpu = suite('profiler on webgpu (GPU timestamps)');
let dir = '';
let onWasm: BatchRecording[] = [];
let profile: Profile | null = null;

gpu.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'olympian-gpuprof-'));
  await initBackend('wasm');
  const model = await loadModel(zoo);
  try {
    onWasm = await recordModel(model, { batches, runs: 1, warmupRuns: 0 });
  } finally {
    model.dispose();
  }
  await initBackend('webgpu');
});

// The rest of the run expects wasm on the main thread; nothing may be left in flight on the GPU.
gpu.after(async () => {
  if (tf.getBackend() === 'webgpu') await gpuIdle();
  await initBackend('wasm');
  rmSync(dir, { recursive: true, force: true });
});

gpu("times each kernel's dispatches, in the kernel sequence wasm launches", async () => {
  const model = await loadModel(zoo);
  const tensorsBefore = tf.memory().numTensors;
  try {
    const recordings = await recordModel(model, { batches, runs: 1, warmupRuns: 1 });
    assert.is(tf.memory().numTensors, tensorsBefore, 'inputs and outputs disposed');
    assert.is(
      (tf.backend() as { activeTimers?: unknown }).activeTimers ?? null,
      null,
      "the backend's timers are put back",
    );
    recordings.forEach((recording, j) => {
      assert.is(recording.method, 'gpu-timestamp');
      const [run] = recording.runs;
      assert.equal(
        run.launches.map(launchKey),
        onWasm[j].runs[0].launches.map(launchKey),
        `batch ${recording.batch}: same kernels, same shapes`,
      );
      const dispatches = run.dispatches!;
      assert.is(dispatches.length, run.launches.length);
      run.launches.forEach((launch, k) => {
        const cost = run.costsMs[k];
        if (dispatches[k] > 0) assert.ok(cost > 0, `${launchKey(launch)}: ${dispatches[k]} dispatches, ${cost} ms`);
        else assert.is(cost, 0, `${launchKey(launch)} launched nothing on the GPU`);
      });
      const timed = dispatches.filter((d) => d > 0).length;
      assert.ok(timed > run.launches.length / 2, `${timed} of ${run.launches.length} kernels ran on the GPU`);
    });
  } finally {
    model.dispose();
  }
});

gpu(
  'kernels launched after an await (as executeAsync does) are timed, and dispatches outside a kernel are counted',
  async () => {
    const x = tf.ones([64, 64]);
    const timer = GpuKernelTimer.start();
    let left = -1;
    const made: tf.Tensor[] = [x];
    try {
      made.push(tf.add(x, x));
      const first = timer.take();
      await made[1].data();
      made.push(tf.mul(made[1], made[1]));
      const second = timer.take();
      made.push(tf.sub(made[2], x));
      left = timer.stop();
      assert.equal([first.dispatches, second.dispatches], [1, 1]);
      const [a, b] = await Promise.all([first.ms, second.ms]);
      assert.ok(a > 0 && b > 0, `${a} ms, ${b} ms`);
      assert.is(timer.take().dispatches, 0);
    } finally {
      if (left < 0) timer.stop();
      await gpuIdle();
      tf.dispose(made);
    }
    assert.is(left, 1, 'the subtraction was never taken');
  },
);

gpu('without timestamp queries it refuses with a typed error instead of profiling zeros', async () => {
  const model = await loadModel(zoo);
  const backend = tf.backend() as unknown as { supportTimestampQuery: boolean };
  backend.supportTimestampQuery = false;
  try {
    await recordModel(model, { batches, runs: 1, warmupRuns: 0 });
    assert.unreachable('should have failed');
  } catch (error) {
    assert.instance(error, OlympianError, String(error));
    assert.is((error as OlympianError).code, ErrorCode.BACKEND_UNAVAILABLE);
    assert.is((error as OlympianError).field, 'backend');
    assert.match((error as Error).message, 'timestamp-query');
  } finally {
    backend.supportTimestampQuery = true;
    model.dispose();
  }
});

gpu(
  "olympian profile --backend webgpu writes a gpu-timestamp profile in the adapter's folder, which reads back",
  async () => {
    const result = await runProfileCommand({
      model: 'zoo:mobilenet_v2@32',
      batch: '1,2',
      runs: 2,
      warmupRuns: 1,
      seed: 1,
      backend: 'webgpu',
      out: dir,
      progress: false,
      log: () => {},
    });
    profile = result.profile;
    assert.is(profile.method, 'gpu-timestamp');
    assert.match(profile.measure, 'timestamp');
    const { fingerprint } = profile;
    assert.is(fingerprint.backend, 'webgpu');
    for (const key of ['vendor', 'architecture', 'description'] as const)
      assert.is(fingerprint.flags[key], adapter![key], key);
    assert.match(fingerprint.id, /^webgpu-/);
    assert.is(basename(dirname(result.path)), fingerprint.id);
    assert.is(profile.alignment, 'position', profile.note);
    profile.batches.forEach((b, j) => {
      assert.is(
        b.sequenceHash,
        sequenceHash(onWasm[j].runs[0].launches),
        `batch ${b.batch}: the sequence wasm launches`,
      );
      assert.ok(b.measuredTotalMs > 0, `batch ${b.batch}: ${b.measuredTotalMs} ms`);
    });
    assert.equal(readProfile(result.path), profile);
  },
);

gpu("a webgpu session with predicted accounting charges exactly the profile's prediction", async () => {
  assert.ok(profile, 'the profile from the test before');
  const arbiter = new DeviceArbiter({ quantumMs: 1 });
  const session = await Session.start(arbiter, {
    name: 'p',
    model: zoo,
    backend: 'webgpu',
    accounting: 'predicted',
    profile: dir,
    maxBatch: 3,
  });
  try {
    assert.is(session.info.accounting, 'predicted', session.info.accountingNote);
    const name = session.info.signature.inputs[0].name;
    for (const batch of [1, 3]) {
      const before = arbiter.stats().sessions[0].chargedMs;
      await session.infer({ [name]: input(batch) });
      const charged = arbiter.stats().sessions[0].chargedMs - before;
      const want = predictTotalMs(profile!, batch);
      assert.ok(
        Math.abs(charged - want) < 1e-6 * Math.max(1, want),
        `batch ${batch}: charged ${charged} ms, profile says ${want} ms`,
      );
    }
  } finally {
    await session.close();
    arbiter.close();
  }
});

gpu('autoProfile on webgpu profiles the model at start and charges the prediction', async () => {
  const arbiter = new DeviceArbiter();
  const session = await Session.start(arbiter, {
    name: 'a',
    model: zoo,
    backend: 'webgpu',
    accounting: 'predicted',
    autoProfile: true,
  });
  try {
    assert.is(session.info.accounting, 'predicted', session.info.accountingNote);
    await session.infer({ [session.info.signature.inputs[0].name]: input(2) });
    assert.ok(arbiter.stats().sessions[0].chargedMs > 0);
  } finally {
    await session.close();
    arbiter.close();
  }
});

if (adapter) gpu.run();
