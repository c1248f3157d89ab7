import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ErrorCode, OlympianError } from '../src/protocol/errors.js';
import { buildProfile, formatProfile, readProfile, type Profile } from '../src/profiler/index.js';
import { meta, syntheticRecordings } from './fixtures/profiler/synthetic.js';

const good: Profile = buildProfile(syntheticRecordings([1, 2, 4, 8]), meta);
let dir = '';

/** Writes `text` as a profile file, reads it, and returns the error it must raise. */
function rejects(text: string, key: string, why: RegExp): OlympianError {
  const path = join(dir, 'model.json');
  writeFileSync(path, text);
  try {
    readProfile(path);
  } catch (error) {
    assert.instance(error, OlympianError, String(error));
    const e = error as OlympianError;
    assert.is(e.code, ErrorCode.INVALID_CONFIG, e.message);
    assert.is(e.field, key, e.message);
    assert.ok(e.message.includes(path), `the message names the file: ${e.message}`);
    assert.ok(e.message.includes(key), `the message names the key: ${e.message}`);
    assert.match(e.message, why);
    return e;
  }
  assert.unreachable(`${key}: expected INVALID_CONFIG`);
  throw new Error('unreachable');
}

/** The good profile with one change made to a deep copy. */
function edited(change: (p: Record<string, any>) => void): string {
  const copy = JSON.parse(JSON.stringify(good)) as Record<string, any>;
  change(copy);
  return JSON.stringify(copy);
}

const schema = suite('profiler: malformed profile files');
schema.before(() => {
  dir = mkdtempSync(join(tmpdir(), 'olympian-schema-'));
});
schema.after(() => rmSync(dir, { recursive: true, force: true }));

schema('a good profile reads back', () => {
  const path = join(dir, 'good.json');
  writeFileSync(path, formatProfile(good));
  assert.equal(readProfile(path), good);
});

schema('truncated JSON', () => {
  const text = formatProfile(good);
  rejects(text.slice(0, text.length / 2), '$', /not valid JSON/);
});

schema('a missing file', () => {
  assert.throws(
    () => readProfile(join(dir, 'absent.json')),
    (e: OlympianError) => e.code === ErrorCode.INVALID_CONFIG && /cannot be read/.test(e.message),
  );
});

schema('wrong types', () => {
  rejects('[]', '$', /must be an object, got an array/);
  rejects(
    edited((p) => (p.batches[0].batch = '1')),
    'batches[0].batch',
    /integer >= 1/,
  );
  rejects(
    edited((p) => (p.kernels = {})),
    'kernels',
    /must be an array, got object/,
  );
  rejects(
    edited((p) => (p.fingerprint.cpu = 3)),
    'fingerprint.cpu',
    /non-empty string, got number/,
  );
  rejects(
    edited((p) => (p.kernels[2].aMs = null)),
    'kernels[2].aMs',
    /finite number, got null/,
  );
  rejects(
    edited((p) => (p.batches[1].sequenceHash = 'abc')),
    'batches[1].sequenceHash',
    /sha1/,
  );
  rejects(
    edited((p) => (p.alignment = 'diagonal')),
    'alignment',
    /"position" or "name"/,
  );
});

schema('a method that is not one of the two', () => {
  rejects(
    edited((p) => (p.method = 'stopwatch')),
    'method',
    /"wall-clock", "gpu-timestamp", got "stopwatch"/,
  );
  rejects(
    edited((p) => (p.method = 1)),
    'method',
    /got 1/,
  );
  rejects(
    edited((p) => (p.method = 'toString')),
    'method',
    /got "toString"/,
  );
});

schema('a file from before `method` existed reads as wall-clock', () => {
  assert.is(good.method, 'wall-clock');
  const path = join(dir, 'old.json');
  writeFileSync(
    path,
    edited((p) => delete p.method),
  );
  assert.equal(readProfile(path), good);
});

schema('negative costs', () => {
  rejects(
    edited((p) => (p.kernels[1].measuredMs[0] = -0.5)),
    'kernels[1].measuredMs[0]',
    /must not be negative, got -0.5/,
  );
  rejects(
    edited((p) => (p.batches[2].measuredTotalMs = -1)),
    'batches[2].measuredTotalMs',
    /must not be negative/,
  );
});

schema('missing fields', () => {
  rejects(
    edited((p) => delete p.nameAverages),
    'nameAverages',
    /is missing/,
  );
  rejects(
    edited((p) => delete p.kernels[0].shapes),
    'kernels[0].shapes',
    /is missing/,
  );
  rejects(
    edited((p) => delete p.fingerprint),
    'fingerprint',
    /is missing/,
  );
});

schema('inconsistent contents', () => {
  rejects(
    edited((p) => (p.schemaVersion = 2)),
    'schemaVersion',
    /this build reads version 1/,
  );
  rejects(
    edited((p) => p.kernels.pop()),
    'batches[0].kernelCount',
    /kernels lists 4 positions/,
  );
  rejects(
    edited((p) => p.kernels[0].measuredMs.pop()),
    'kernels[0].measuredMs',
    /one cost per batch size/,
  );
  rejects(
    edited((p) => p.batches.reverse()),
    'batches[1].batch',
    /greater than the batch size before it/,
  );
  rejects(
    edited((p) => delete p.nameAverages.Relu),
    'kernels[1].name',
    /nameAverages does not list/,
  );
});

schema.run();
