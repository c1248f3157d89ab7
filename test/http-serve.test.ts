/** `olympian serve`: the configuration file checked key by key, a start and close, and SIGTERM draining. */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ErrorCode } from '../src/protocol/errors.js';
import { runServe } from '../src/cli/serve.js';
import { loadServeConfig, validateServeConfig } from '../src/http/config-file.js';
import { rejectsWith } from './helpers-server.js';
import { imageRows, post, tinyModule } from './fixtures/http/helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'olympian-serve-'));
const tinyPath = fileURLToPath(tinyModule);
const fixed = (name: string, extra: object = {}) => ({ name, model: { module: tinyPath }, ...extra });
const slow = { name: 'slow', model: { module: tinyPath, options: { inputSize: 32, channels: 96, layers: 8 } } };

function writeConfig(name: string, config: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, typeof config === 'string' ? config : JSON.stringify(config));
  return path;
}

const config = suite('serve: configuration');

config('each mistake is INVALID_CONFIG naming the key', async () => {
  const bad: Array<[unknown, string]> = [
    [{ models: [fixed('a')], wieght: 2 }, 'wieght'],
    [{ models: [] }, 'models'],
    [{ models: [fixed('a'), { name: 'b' }] }, 'models[1]'],
    [{ models: [fixed('a'), { name: 'b', basePath: 'x', model: 'y' }] }, 'models[1]'],
    [{ models: [fixed('a'), fixed('a')] }, 'models[1].name'],
    [{ models: [fixed('a.b')] }, 'models[0].name'],
    [{ models: [fixed('a', { weight: 0 })] }, 'models[0].weight'],
    [{ models: [fixed('a', { priority: 1.5 })] }, 'models[0].priority'],
    [{ models: [fixed('a', { maxBatch: 0 })] }, 'models[0].maxBatch'],
    [{ models: [fixed('a', { colour: 'red' })] }, 'models[0].colour'],
    [{ models: [{ name: 'a', model: 42 }] }, 'models[0].model'],
    [{ models: [fixed('a')], policy: 'lottery' }, 'policy'],
    [{ models: [fixed('a')], device: 'tpu' }, 'device'],
    [{ models: [fixed('a')], quantumMs: -1 }, 'quantumMs'],
    [{ models: [fixed('a')], limits: { requestBytes: 0 } }, 'limits.requestBytes'],
    [{ models: [fixed('a')], limits: { bodyBytes: 1 } }, 'limits.bodyBytes'],
    [{ models: [fixed('a')], limits: { rps: 1 } }, 'limits.rps'],
    [{ models: [fixed('a')], limits: { jsonBodyBytes: 100 } }, 'limits.jsonBodyBytes'],
    [{ models: [fixed('a')], limits: { headersTimeoutMs: 0 } }, 'limits.headersTimeoutMs'],
    [{ models: [fixed('a')], limits: { headersTimeoutMs: 5000, bodyTimeoutMs: 1000 } }, 'limits.headersTimeoutMs'],
    [{ models: [fixed('a')], limits: { bodyTimeoutMs: '1m' } }, 'limits.bodyTimeoutMs'],
    [{ models: [fixed('a')], limits: { keepAliveTimeoutMs: 1.5 } }, 'limits.keepAliveTimeoutMs'],
    [{ models: [fixed('a')], limits: { idleTimeoutMs: 2 ** 31 } }, 'limits.idleTimeoutMs'],
    [{ models: [fixed('a')], limits: { shutdownGraceMs: -1 } }, 'limits.shutdownGraceMs'],
    [{ models: [fixed('a')], port: 'http' }, 'port'],
    [{ models: [fixed('a')], host: '0.0.0.0' }, 'adminToken'],
    [{ models: [fixed('a')], adminToken: { env: 'OLYMPIAN_TEST_UNSET_VARIABLE' } }, 'adminToken.env'],
    [{ models: [fixed('a')], adminToken: { file: 'no-such-token' } }, 'adminToken.file'],
    [{ models: [fixed('a')], tls: { keyFile: 'no.pem', certFile: 'no.pem' } }, 'tls.keyFile'],
    [{ models: [fixed('a')], log: { level: 'loud' } }, 'log.level'],
    [[1, 2], 'config'],
  ];
  for (const [raw, field] of bad) await rejectsWith(validateServeConfig(raw, dir), ErrorCode.INVALID_CONFIG, field);
  await rejectsWith(loadServeConfig(join(dir, 'missing.json')), ErrorCode.INVALID_CONFIG, 'config');
  await rejectsWith(loadServeConfig(writeConfig('broken.json', '{"models": [')), ErrorCode.INVALID_CONFIG, 'config');
});

config('limits reach the HTTP options as given; the rest keep their defaults', async () => {
  const options = await validateServeConfig(
    {
      models: [fixed('a')],
      limits: { requestBytes: 4096, bodyBytes: 2048, headersTimeoutMs: 500, shutdownGraceMs: 0 },
    },
    dir,
  );
  assert.equal(options.limits, { bodyBytes: 2048, headersTimeoutMs: 500, shutdownGraceMs: 0 });
  assert.is(options.server?.maxRequestBytes, 4096);
  assert.is((await validateServeConfig({ models: [fixed('a')] }, dir)).limits, undefined);
});

config('relative paths are relative to the file; secrets come from the environment or a file', async () => {
  writeFileSync(join(dir, 'token'), 'from-a-file-0123456789\n');
  process.env.OLYMPIAN_TEST_TOKEN = 'from-the-env-0123456789';
  try {
    const options = await loadServeConfig(
      writeConfig('paths.json', {
        adminToken: { file: 'token' },
        models: [
          { name: 'v', basePath: 'models/v' },
          { name: 'p', model: 'm/model.json' },
          { name: 'z', model: 'zoo:alexnet@64' },
          { name: 'u', model: 'https://example.invalid/model.json' },
        ],
      }),
    );
    assert.is(options.adminToken, 'from-a-file-0123456789');
    assert.equal(
      options.models.map((m) => m.basePath ?? m.model),
      [join(dir, 'models/v'), join(dir, 'm/model.json'), 'zoo:alexnet@64', 'https://example.invalid/model.json'],
    );
    const fromEnv = await validateServeConfig(
      { adminToken: { env: 'OLYMPIAN_TEST_TOKEN' }, host: '0.0.0.0', models: [fixed('a')] },
      dir,
    );
    // A zoo model at an input size its architecture cannot take is refused with the file, naming its key.
    await rejectsWith(
      validateServeConfig({ models: [fixed('a'), { name: 'z', model: 'zoo:alexnet@32' }] }, dir),
      ErrorCode.INVALID_CONFIG,
      'models[1].model',
    );
    await rejectsWith(
      validateServeConfig({ models: [{ name: 'z', model: { zoo: 'vgg16', inputSize: 8 } }] }, dir),
      ErrorCode.INVALID_CONFIG,
      'models[0].model.inputSize',
    );
    assert.is(fromEnv.adminToken, 'from-the-env-0123456789');
  } finally {
    delete process.env.OLYMPIAN_TEST_TOKEN;
  }
});

config('the example configuration in deploy/ is valid', async () => {
  process.env.OLYMPIAN_ADMIN_TOKEN = 'example-token-0123456789';
  try {
    const options = await loadServeConfig(fileURLToPath(new URL('../deploy/olympian.example.json', import.meta.url)));
    assert.ok(options.models.length >= 2);
    assert.is(options.server?.policy, 'weighted');
    assert.equal(options.models.find((m) => m.name === 'demo')?.budget, { deviceMsPerSec: 250, burstMs: 100 });
  } finally {
    delete process.env.OLYMPIAN_ADMIN_TOKEN;
  }
});

config('a base path that does not exist fails the start naming it', async () => {
  const path = writeConfig('nobase.json', {
    models: [fixed('a'), { name: 'b', basePath: 'nowhere' }],
    backend: 'wasm',
    tokens: 1,
  });
  await rejectsWith(
    runServe({ config: path, port: 0, handleSignals: false, logLevel: 'silent' }),
    ErrorCode.INVALID_CONFIG,
    'models[1].basePath',
  );
});

config.run();

const lifecycle = suite('serve: start, answer, drain');

lifecycle('starts from a file, answers, and closes', async () => {
  const path = writeConfig('ok.json', { backend: 'wasm', tokens: 1, port: 8501, models: [fixed('a')] });
  const running = await runServe({ config: path, port: 0, handleSignals: false, logLevel: 'silent' });
  try {
    assert.not.match(running.url, ':8501', 'the port override wins');
    const answer = await post(`${running.url}/v1/models/a:predict`, { instances: [imageRows()] });
    assert.is(answer.status, 200);
    assert.is(answer.body.predictions[0].length, 10);
  } finally {
    await running.close();
  }
  await running.closed;
});

lifecycle('SIGTERM drains: accepted requests finish, then the process exits 0', async () => {
  const path = writeConfig('child.json', { backend: 'wasm', tokens: 1, models: [slow] });
  const fixture = fileURLToPath(new URL('./fixtures/http/serve-child.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', fixture, path], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no URL line in 60 s:\n${output}`)), 60_000);
      child.stdout.on('data', (chunk) => {
        output += chunk;
        const match = /^URL (\S+)$/m.exec(output);
        if (match) {
          clearTimeout(timer);
          resolve(match[1]);
        }
      });
      child.stderr.on('data', (chunk) => (output += chunk));
    });
    const requests = Array.from({ length: 5 }, () =>
      post(`${url}/v1/models/slow:predict`, { instances: [imageRows(32)] }),
    );
    // Signal once all five are accepted (each answer is logged as completed; accepted ones as incoming).
    const started = Date.now();
    while ((output.match(/incoming request/g) ?? []).length < 5 && Date.now() - started < 20_000)
      await new Promise((r) => setTimeout(r, 5));
    const completedAtSignal = (output.match(/request completed/g) ?? []).length;
    child.kill('SIGTERM');
    const answers = await Promise.all(requests);
    assert.equal(
      answers.map((a) => a.status),
      [200, 200, 200, 200, 200],
    );
    assert.ok(completedAtSignal < 5, `${completedAtSignal} of 5 had already finished: nothing was left to drain`);
    assert.is(await exited, 0, output.slice(-2000));
    assert.match(output, 'draining');
    assert.match(output, '"msg":"closed"');
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});

lifecycle.after(() => rmSync(dir, { recursive: true, force: true }));
lifecycle.run();
