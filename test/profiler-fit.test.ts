import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { buildProfile, fitByName, fitLine, fitPositions, predictMs } from '../src/profiler/index.js';
import { kernels, meta, syntheticRecordings } from './fixtures/profiler/synthetic.js';

const close = (actual: number, expected: number, what: string, tolerance = 1e-9) =>
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what}: ${actual} is not ${expected}`);

const fit = suite('profiler: fit');

fit('recovers a and b exactly from exactly linear costs', () => {
  const line = fitLine(
    [1, 2, 4, 8],
    [1, 2, 4, 8].map((b) => 0.25 + 0.5 * b),
  );
  close(line.aMs, 0.25, 'a');
  close(line.bMs, 0.5, 'b');
});

fit('is least squares on costs that are not linear, and clamps predictions at zero', () => {
  const { fits, figures } = fitPositions([1, 2, 4, 8], [[1], [2], [4], [16]]);
  // By hand: mean x 3.75, mean y 5.75, Sxx 28.75, Sxy 62.75.
  const b = 62.75 / 28.75;
  const a = 5.75 - b * 3.75;
  close(fits[0].aMs, a, 'a');
  close(fits[0].bMs, b, 'b');
  assert.ok(a + b < 0, 'the line is below zero at batch 1');
  close(figures[0].predictedTotalMs, 0, 'batch 1 predicts 0, not a negative cost');
  close(figures[0].errorPct, -100, 'batch 1 error');
  close(figures[3].predictedTotalMs, a + 8 * b, 'batch 8 prediction');
  close(figures[3].errorPct, ((a + 8 * b - 16) / 16) * 100, 'batch 8 error');
  close(figures[3].measuredTotalMs, 16, 'batch 8 measured');
});

fit('needs two distinct batch sizes', () => {
  assert.throws(() => fitLine([4, 4], [1, 2]), /two distinct batch sizes/);
});

fit('sums positions into whole-inference figures with zero error on exact data', () => {
  const batches = [1, 2, 4, 8];
  const costs = batches.map((n) => kernels.map((k) => k.aMs + k.bMs * n));
  const { fits, figures } = fitPositions(batches, costs);
  kernels.forEach((k, p) => {
    close(fits[p].aMs, k.aMs, `a of position ${p}`);
    close(fits[p].bMs, k.bMs, `b of position ${p}`);
  });
  for (const f of figures) {
    close(
      f.measuredTotalMs,
      kernels.reduce((t, k) => t + k.aMs + k.bMs * f.batch, 0),
      `measured at ${f.batch}`,
    );
    close(f.errorPct, 0, `error at ${f.batch}`, 1e-9);
  }
});

fit("averages by kernel name: the mean of each name's launches, fitted, and launches per inference", () => {
  const batches = [1, 2];
  const sequences = batches.map((n) => kernels.map((k) => ({ name: k.name, costMs: k.aMs + k.bMs * n })));
  const { averages, figures } = fitByName(batches, sequences);
  close(averages.Conv2D.aMs, (0.05 + 0.15) / 2, 'Conv2D a');
  close(averages.Conv2D.bMs, (0.2 + 0.6) / 2, 'Conv2D b');
  assert.is(averages.Conv2D.perInference, 2);
  assert.is(averages.Relu.perInference, 1);
  for (const f of figures) close(f.errorPct, 0, `name-average error at ${f.batch}`);
  close(predictMs(averages._FusedMatMul, 3), 0.3 + 0.3, 'prediction at an unprofiled batch size');
});

const build = suite('profiler: profile from recordings');

build('fits every position from the per-kernel medians of the runs', () => {
  const profile = buildProfile(syntheticRecordings([8, 1, 4, 2]), meta);
  assert.is(profile.alignment, 'position');
  assert.equal(
    profile.batches.map((b) => b.batch),
    [1, 2, 4, 8],
    'batch sizes ascending',
  );
  assert.is(profile.runs, 3);
  kernels.forEach((k, p) => {
    close(profile.kernels[p].aMs, k.aMs, `a of ${p}`, 1e-6);
    close(profile.kernels[p].bMs, k.bMs, `b of ${p}`, 1e-6);
    assert.is(profile.kernels[p].measuredMs.length, 4);
  });
  for (const b of profile.batches) {
    assert.is(b.kernelCount, kernels.length);
    close(b.errorPct, 0, `error at ${b.batch}`, 1e-3);
    close(b.wallMs, 2, 'median wall time');
    assert.match(b.sequenceHash, /^[0-9a-f]{40}$/);
  }
  assert.is(new Set(profile.batches.map((b) => b.sequenceHash)).size, 4, 'shapes differ by batch size, so do hashes');
  assert.is(profile.kernels[0].shapes, '[N,16,16,3][3,3,3,8]');
  assert.is(profile.kernels[4].shapes, '[N,2048][2048,10][-]');
  assert.equal(Object.keys(profile.nameAverages).sort(), ['Conv2D', 'Relu', 'Reshape', '_FusedMatMul']);
});

build('falls back to fits by name, and says why, when positions do not line up', () => {
  const recordings = syntheticRecordings([1, 2, 4]);
  const extra = syntheticRecordings([8], [...kernels, kernels[1]]);
  const profile = buildProfile([...recordings, ...extra], meta);
  assert.is(profile.alignment, 'name');
  assert.is(profile.kernels.length, 0);
  assert.match(profile.note ?? '', /batch 8/);
  assert.is(profile.batches[3].kernelCount, kernels.length + 1);
  close(profile.nameAverages.Relu.aMs, 0.01, 'Relu a', 1e-6);
});

build('refuses a single batch size', () => {
  assert.throws(() => buildProfile(syntheticRecordings([4]), meta), /two distinct batch sizes/);
});

fit.run();
build.run();
