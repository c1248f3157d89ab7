import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { DeviceArbiter } from '../src/arbiter/arbiter.js';
import { runProfileCommand } from '../src/profiler/index.js';
import { predictTotalMs } from '../src/profiler/plan.js';
import { Session } from '../src/workers/session.js';

const predicted = suite('profile-predicted accounting in a session');

const dir = mkdtempSync(join(tmpdir(), 'olympian-profiles-'));
const model = { zoo: 'mobilenet_v2', inputSize: 32, seed: 1 };
const input = (batch: number) => ({
  input_1: {
    dtype: 'float32' as const,
    shape: [batch, 32, 32, 3],
    data: new Float32Array(batch * 32 * 32 * 3).fill(0.25),
  },
});

predicted.after(() => rmSync(dir, { recursive: true, force: true }));

predicted("charges exactly the profile's prediction, at profiled and unprofiled batch sizes", async () => {
  const { profile } = await runProfileCommand({
    model: 'zoo:mobilenet_v2@32',
    batch: '1,2',
    runs: 2,
    warmupRuns: 1,
    seed: 1,
    out: dir,
    progress: false,
    log: () => {},
  });
  const arbiter = new DeviceArbiter({ quantumMs: 1 });
  const session = await Session.start(arbiter, {
    name: 'p',
    model,
    backend: 'wasm',
    accounting: 'predicted',
    profile: dir,
    maxBatch: 3,
  });
  try {
    assert.is(session.info.accounting, 'predicted', session.info.accountingNote);
    const name = session.info.signature.inputs[0].name;
    for (const batch of [1, 3]) {
      const before = arbiter.stats().sessions[0].chargedMs;
      await session.infer({ [name]: input(batch).input_1 });
      const charged = arbiter.stats().sessions[0].chargedMs - before;
      const want = predictTotalMs(profile, batch);
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

predicted('a profile of another model falls back to measured time, with the reason in stats', async () => {
  const { path } = await runProfileCommand({
    model: 'zoo:googlenet@32',
    batch: '1,2',
    runs: 1,
    warmupRuns: 1,
    out: dir,
    progress: false,
    log: () => {},
  });
  const arbiter = new DeviceArbiter();
  const session = await Session.start(arbiter, {
    name: 'm',
    model,
    backend: 'wasm',
    accounting: 'predicted',
    profile: path,
  });
  try {
    assert.ok(['measured', 'name-average'].includes(session.info.accounting), session.info.accounting);
    assert.match(session.info.accountingNote, /differs|does not know|measured/);
  } finally {
    await session.close();
    arbiter.close();
  }
});

predicted('autoProfile profiles the model at start and charges the prediction', async () => {
  const arbiter = new DeviceArbiter();
  const session = await Session.start(arbiter, {
    name: 'a',
    model,
    backend: 'wasm',
    accounting: 'predicted',
    autoProfile: true,
  });
  try {
    assert.is(session.info.accounting, 'predicted', session.info.accountingNote);
    const name = session.info.signature.inputs[0].name;
    await session.infer({ [name]: input(2).input_1 });
    assert.ok(arbiter.stats().sessions[0].chargedMs > 0);
  } finally {
    await session.close();
    arbiter.close();
  }
});

predicted('a malformed profile file is a typed error at session start', async () => {
  const bad = join(dir, 'bad.json');
  writeFileSync(bad, '{"schemaVersion": 1, "kernels": [');
  const arbiter = new DeviceArbiter();
  try {
    await Session.start(arbiter, { name: 'b', model, backend: 'wasm', accounting: 'predicted', profile: bad });
    assert.unreachable('should have failed');
  } catch (error) {
    assert.is((error as { code?: string }).code, 'INVALID_CONFIG');
    assert.match((error as Error).message, 'bad.json');
  } finally {
    arbiter.close();
  }
});

predicted.run();
