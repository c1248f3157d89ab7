import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '../src/device/tfjs.js';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { wrapModel, type LoadedModel } from '../src/models/index.js';
import {
  buildProfile,
  currentFingerprint,
  planCosts,
  readProfile,
  recordModel,
  runProfileCommand,
  SequenceRecorder,
  type DeviceFingerprint,
} from '../src/profiler/index.js';
import { ErrorCode, isOlympianError } from '../src/protocol/errors.js';
import { initBackend } from '../src/device/backend.js';
import { installKernelHook } from '../src/device/kernel-hook.js';

/** Three seeded convolutions and a classifier on 16x16 inputs: a real model, profiled in well under a second. */
function tinyConvNet(): tf.LayersModel {
  const input = tf.input({ shape: [16, 16, 3], name: 'image' });
  let x: tf.SymbolicTensor = input;
  for (let i = 0; i < 3; i++) {
    x = tf.layers
      .conv2d({
        filters: 8,
        kernelSize: 3,
        padding: 'same',
        activation: 'relu',
        kernelInitializer: tf.initializers.glorotUniform({ seed: 100 + i }),
        name: `conv${i}`,
      })
      .apply(x) as tf.SymbolicTensor;
  }
  x = tf.layers.globalAveragePooling2d({ name: 'pool' }).apply(x) as tf.SymbolicTensor;
  const output = tf.layers
    .dense({ units: 10, kernelInitializer: tf.initializers.glorotUniform({ seed: 199 }), name: 'logits' })
    .apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: output, name: 'tiny_profiled' });
}

/** The launches of one inference at `batch`, seen through the kernel gate the way a session would see them. */
async function observe(model: LoadedModel, batch: number): Promise<SequenceRecorder> {
  const recorder = new SequenceRecorder();
  const gate = installKernelHook('wasm', recorder.record);
  const x = tf.zeros([batch, 16, 16, 3]);
  try {
    tf.dispose(Object.values(await model.predict({ image: x })));
  } finally {
    gate.uninstall();
    x.dispose();
  }
  return recorder;
}

const real = suite('profiler: a real model on wasm');
let model: LoadedModel;
let fingerprint: DeviceFingerprint;

real.before(async () => {
  await initBackend('wasm');
  fingerprint = await currentFingerprint();
  model = wrapModel(tinyConvNet(), 'tiny_profiled');
});
real.after(() => model.dispose());

real('records every kernel at batch 1 and 2, fits them, and leaves no tensor or wrapper behind', async () => {
  const tensorsBefore = tf.memory().numTensors;
  const conv = tf.getKernel('FusedConv2D', 'wasm') ?? tf.getKernel('Conv2D', 'wasm');
  const recordings = await recordModel(model, { batches: [1, 2], runs: 3, warmupRuns: 1 });
  assert.is(tf.memory().numTensors, tensorsBefore, 'inputs and outputs disposed');
  assert.is((tf.getKernel(conv!.kernelName, 'wasm') ?? conv)!.kernelFunc, conv!.kernelFunc, 'original kernels back');

  assert.equal(
    recordings.map((r) => [r.batch, r.runs.length]),
    [
      [1, 3],
      [2, 3],
    ],
  );
  const profile = buildProfile(recordings, {
    fingerprint,
    model: { id: 'tiny_profiled', source: 'test' },
    warmupRuns: 1,
  });
  assert.is(profile.alignment, 'position');
  assert.ok(profile.kernels.length >= 5, `kernels ${profile.kernels.length}`);
  const names = profile.kernels.map((k) => k.name);
  assert.ok(
    names.some((n) => /Conv2D/.test(n)),
    names.join(' '),
  );
  const first = profile.kernels.find((k) => /Conv2D/.test(k.name))!;
  assert.match(first.shapes, /^\[N,16,16,3\]\[3,3,3,8\]/);
  for (const b of profile.batches) {
    assert.is(b.kernelCount, profile.kernels.length);
    assert.ok(b.measuredTotalMs > 0 && b.wallMs > 0, `batch ${b.batch}: ${b.measuredTotalMs} ms of ${b.wallMs} ms`);
    // Two batch sizes, two points: the line goes through both.
    assert.ok(Math.abs(b.errorPct) < 0.1, `batch ${b.batch} error ${b.errorPct}%`);
  }
  assert.is.not(profile.batches[0].sequenceHash, profile.batches[1].sequenceHash);

  // What a session would do on its first inference: check the sequence it launches against the profile.
  const atTwo = await observe(model, 2);
  assert.is(atTwo.hash(), profile.batches[1].sequenceHash, 'the sequence is deterministic');
  const plan = planCosts(profile, { batch: 2, fingerprint, quantumMs: 0.01, observed: atTwo.launches });
  assert.is(plan.mode, 'predicted');
  assert.is(plan.costsMs.length, atTwo.launches.length);
  assert.ok(plan.boundaries!.length > 0);
  const atFive = await observe(model, 5);
  assert.is(
    planCosts(profile, { batch: 5, fingerprint, quantumMs: 1, observed: atFive.launches }).mode,
    'predicted',
    'templates cover unprofiled batch sizes',
  );
});

real('the profile command profiles a zoo model and writes it under the device fingerprint', async () => {
  const out = mkdtempSync(join(tmpdir(), 'olympian-profile-'));
  try {
    const lines: string[] = [];
    const result = await runProfileCommand({
      model: 'mobilenet_v2',
      inputSize: 32,
      batch: '2,1',
      runs: 1,
      warmupRuns: 0,
      out,
      progress: false,
      log: (l) => lines.push(l),
    });
    assert.equal(readdirSync(out), [fingerprint.id]);
    assert.is(result.path, join(out, fingerprint.id, 'mobilenet_v2@32.json'));
    assert.equal(readProfile(result.path), result.profile);
    assert.equal(
      result.profile.batches.map((b) => b.batch),
      [1, 2],
    );
    assert.equal(result.profile.fingerprint, fingerprint);
    assert.ok(
      lines.some((l) => /batch +2: measured/.test(l)),
      lines.join('\n'),
    );
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

real('the profile command refuses one batch size and unknown backends, naming the option', async () => {
  for (const [options, field] of [
    [{ batch: '4' }, 'batch'],
    [{ batch: '1,x' }, 'batch'],
    [{ batch: '1,2', backend: 'tensorflow' }, 'backend'],
    [{ batch: '1,2', runs: 0 }, 'runs'],
  ] as const) {
    try {
      await runProfileCommand({ model: 'mobilenet_v2', ...(options as object), batch: options.batch } as Parameters<
        typeof runProfileCommand
      >[0]);
      assert.unreachable(field);
    } catch (error) {
      assert.ok(isOlympianError(error, ErrorCode.INVALID_ARGUMENT), String(error));
      assert.is((error as { field?: string }).field, field);
    }
  }
});

real.run();
