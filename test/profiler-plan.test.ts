import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  buildProfile,
  locateProfile,
  makeFingerprint,
  planCosts,
  predictTotalMs,
  profileModelId,
  profilePath,
  quantumBoundaries,
  readProfile,
  SequenceRecorder,
  writeProfile,
  type KernelParams,
  type Profile,
} from '../src/profiler/index.js';
import {
  fingerprint,
  kernels,
  launchesAt,
  meta,
  otherCpu,
  syntheticRecordings,
} from './fixtures/profiler/synthetic.js';

const profile: Profile = buildProfile(syntheticRecordings([1, 2, 4, 8]), meta);
const exact = (batch: number) => kernels.map((k) => k.aMs + k.bMs * batch);
const close = (actual: number, expected: number, what: string, tolerance = 1e-6) =>
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what}: ${actual} is not ${expected}`);

const plans = suite('profiler: cost plans');

plans('predicts every kernel as a + b·batch at a batch size never profiled', () => {
  const plan = planCosts(profile, { batch: 3, fingerprint, quantumMs: 1 });
  assert.is(plan.mode, 'predicted');
  assert.is(plan.verified, false);
  assert.is(plan.warning, undefined);
  exact(3).forEach((cost, i) => close(plan.costsMs[i], cost, `kernel ${i}`));
  close(plan.totalMs, predictTotalMs(profile, 3), 'total');
});

plans('verifies the sequence of an unprofiled batch size against the shape templates', () => {
  const plan = planCosts(profile, { batch: 3, fingerprint, quantumMs: 1 }).verify(launchesAt(3));
  assert.is(plan.mode, 'predicted');
  assert.is(plan.verified, true);
  assert.is(plan.warning, undefined);
});

plans('verifies a profiled batch size by its sequence hash', () => {
  const plan = planCosts(profile, { batch: 4, fingerprint, quantumMs: 1, observed: launchesAt(4) });
  assert.is(plan.mode, 'predicted');
  assert.is(plan.verified, true);
});

plans('a sequence that differs falls back to per-kernel-name averages, with a warning naming the kernel', () => {
  const seen = launchesAt(4);
  seen[2] = {
    name: 'Conv2D',
    shapes: [
      [4, 16, 16, 8],
      [5, 5, 8, 8],
    ],
  };
  const plan = planCosts(profile, { batch: 4, fingerprint, quantumMs: 1 }).verify(seen);
  assert.is(plan.mode, 'name-average');
  assert.match(plan.warning ?? '', /at kernel 2/);
  assert.match(plan.warning ?? '', /\[3,3,8,8\]/);
  close(plan.costsMs[2], profile.nameAverages.Conv2D.aMs + 4 * profile.nameAverages.Conv2D.bMs, 'Conv2D average');
  assert.is(plan.costsMs.length, seen.length);
});

plans('a longer sequence falls back too; a kernel the profile never saw leaves measured time', () => {
  const longer = [...launchesAt(2), { name: 'Relu', shapes: [[2, 10]] }];
  const plan = planCosts(profile, { batch: 2, fingerprint, quantumMs: 1, observed: longer });
  assert.is(plan.mode, 'name-average');
  assert.match(plan.warning ?? '', /at kernel 5 \(expected \(end of sequence\)/);
  const unknown = planCosts(profile, {
    batch: 2,
    fingerprint,
    quantumMs: 1,
    observed: [...launchesAt(2), { name: 'Erf', shapes: [[2]] }],
  });
  assert.is(unknown.mode, 'measured');
  assert.match(unknown.warning ?? '', /Erf/);
  assert.is(unknown.costsMs.length, 0);
  assert.is(unknown.boundaries, undefined);
});

plans('a profile from another device is measured on wasm/cpu and used anyway on an asynchronous backend', () => {
  const plan = planCosts(profile, { batch: 2, fingerprint: otherCpu, quantumMs: 1 });
  assert.is(plan.mode, 'measured');
  assert.match(plan.warning ?? '', /another device \(cpu "Test CPU 3000" ≠ "Other CPU 9000"\)/);
  const gpu = makeFingerprint({ backend: 'webgpu', flags: {}, cpu: 'Test CPU 3000', tfjs: '4.22.0' });
  const async = planCosts(profile, { batch: 2, fingerprint: gpu, quantumMs: 1 });
  assert.is(async.mode, 'predicted');
  assert.match(async.warning ?? '', /backend wasm ≠ webgpu/);
});

plans('no profile is measured time, with a warning', () => {
  const plan = planCosts(null, { batch: 1, fingerprint, quantumMs: 1 });
  assert.is(plan.mode, 'measured');
  assert.match(plan.warning ?? '', /no profile/);
});

plans('a profile fitted per name is measured until it has seen a sequence, then charges name averages', () => {
  const byName = buildProfile(
    [...syntheticRecordings([1, 2, 4]), ...syntheticRecordings([8], [...kernels, kernels[1]])],
    meta,
  );
  const pending = planCosts(byName, { batch: 2, fingerprint, quantumMs: 1 });
  assert.is(pending.mode, 'measured');
  assert.is(pending.verified, false);
  const plan = pending.verify(launchesAt(2));
  assert.is(plan.mode, 'name-average');
  assert.is(plan.verified, true);
  assert.match(plan.warning ?? '', /fitted per kernel name/);
  close(plan.costsMs[1], 0.01 + 0.02 * 2, 'Relu at batch 2');
});

plans('rejects a batch size or quantum that makes no sense', () => {
  assert.throws(() => planCosts(profile, { batch: 0, fingerprint, quantumMs: 1 }), /batch/);
  assert.throws(() => planCosts(profile, { batch: 1, fingerprint, quantumMs: 0 }), /quantumMs/);
});

const boundaries = suite('profiler: quantum boundaries');

boundaries('end a quantum after the kernel that uses it up, counting afresh after each', () => {
  assert.equal([...quantumBoundaries(Float64Array.of(0.4, 0.4, 0.4, 0.4, 0.4, 0.4), 1)], [2, 5]);
  assert.equal(
    [...quantumBoundaries(Float64Array.of(0.5, 0.5, 0.5, 0.5), 1)],
    [1, 3],
    'a quantum used exactly ends there',
  );
  assert.equal(
    [...quantumBoundaries(Float64Array.of(3, 0.1, 0.1), 1)],
    [0],
    'a kernel longer than the quantum ends one by itself',
  );
  assert.equal([...quantumBoundaries(Float64Array.of(0.2, 0.2), 1)], [], 'nothing ends before the quantum is used');
  assert.equal([...quantumBoundaries(Float64Array.of(1, 1), Infinity)], []);
});

boundaries('come precomputed with the plan for its quantum', () => {
  const plan = planCosts(profile, { batch: 2, fingerprint, quantumMs: 0.5 });
  // Costs at batch 2: 0.45, 0.05, 1.35, 0.002, 0.5.
  assert.equal([...plan.boundaries!], [1, 2, 4]);
});

const files = suite('profiler: profile files');
let dir = '';
files.before(() => {
  dir = mkdtempSync(join(tmpdir(), 'olympian-profiles-'));
});
files.after(() => rmSync(dir, { recursive: true, force: true }));

files('round trip: written, read back, the same profile and the same plan', () => {
  const path = profilePath(dir, fingerprint.id, 'synthetic');
  writeProfile(path, profile);
  const loaded = readProfile(path);
  assert.equal(loaded, profile);
  for (const batch of [1, 3, 8]) {
    const a = planCosts(profile, { batch, fingerprint, quantumMs: 0.5 });
    const b = planCosts(loaded, { batch, fingerprint, quantumMs: 0.5 });
    assert.equal([...b.costsMs], [...a.costsMs]);
    assert.equal([...b.boundaries!], [...a.boundaries!]);
    assert.is(b.mode, a.mode);
  }
});

files("are found in this device's folder first, else in another device's", () => {
  writeProfile(profilePath(dir, otherCpu.id, 'elsewhere'), { ...profile, fingerprint: otherCpu });
  assert.is(locateProfile(dir, 'synthetic', fingerprint)?.path, profilePath(dir, fingerprint.id, 'synthetic'));
  const found = locateProfile(dir, 'elsewhere', fingerprint);
  assert.is(found?.path, profilePath(dir, otherCpu.id, 'elsewhere'));
  assert.is(planCosts(found!.profile, { batch: 1, fingerprint, quantumMs: 1 }).mode, 'measured');
  assert.is(locateProfile(dir, 'nothing', fingerprint), null);
  assert.is(locateProfile(join(dir, 'absent'), 'synthetic', fingerprint), null);
});

files('are named by model id: zoo name, with the input size when it is not the default', () => {
  assert.is(profileModelId('resnet50'), 'resnet50');
  assert.is(profileModelId('zoo:resnet50@224'), 'resnet50');
  assert.is(profileModelId('zoo:resnet50@64'), 'resnet50@64');
  assert.is(profileModelId({ zoo: 'vgg16', inputSize: 32 }), 'vgg16@32');
  assert.is(profileModelId('/models/my net/model.json'), 'my_net');
  assert.is(profileModelId('https://host/x/detector/model.json?v=2'), 'detector');
});

const recorder = suite('profiler: sequence recorder');

recorder('records names and input shapes from the params the gate passes, and hashes them', () => {
  const seen = new SequenceRecorder();
  const info = (shape: readonly number[]) => ({ dataId: {}, shape, dtype: 'float32' as const });
  for (const launch of launchesAt(2)) {
    const inputs = Object.fromEntries(launch.shapes.map((s, i) => [`in${i}`, s === null ? undefined : info(s)]));
    seen.record(launch.name, 0.1, { inputs, attrs: {}, backend: {} } as unknown as KernelParams);
  }
  assert.is(seen.hash(), profile.batches[1].sequenceHash);
  assert.is(planCosts(profile, { batch: 2, fingerprint, quantumMs: 1, observed: seen.launches }).mode, 'predicted');
  seen.reset();
  assert.is(seen.launches.length, 0);
});

plans.run();
boundaries.run();
files.run();
recorder.run();
