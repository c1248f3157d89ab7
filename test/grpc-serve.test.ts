/**
 * gRPC in `olympian serve`: `grpcPort` in olympian.json and `--grpc-port` on the command line, checked like
 * every other key; TLS from the configuration's key and certificate; a port that cannot be bound stopping the
 * start; and SIGTERM draining the gRPC calls already received beside the HTTP ones, readiness false at once
 * on both.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server as NetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { validateServeConfig } from '../src/http/config-file.js';
import { ErrorCode } from '../src/protocol/errors.js';
import { rejectsWith } from './helpers-server.js';
import { connect, unary } from './fixtures/grpc/client.js';
import { startServe } from './fixtures/http/cli.js';
import { get, startTest, tinyModel, tinyModule } from './fixtures/http/helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'olympian-grpc-serve-'));
const tinyPath = fileURLToPath(tinyModule);
const slowOptions = { inputSize: 32, channels: 96, layers: 8 };
const rawSlow = () => ({
  model_name: 'slow',
  inputs: [{ name: 'image', datatype: 'FP32', shape: [1, 32, 32, 3] }],
  raw_input_contents: [Buffer.alloc(32 * 32 * 3 * 4)],
});

const config = suite('serve: gRPC configuration');

config('grpcPort is read from olympian.json; a bad one is INVALID_CONFIG naming it', async () => {
  const models = [{ name: 'a', model: { module: tinyPath } }];
  assert.is((await validateServeConfig({ models, grpcPort: 8500 }, dir)).grpcPort, 8500);
  assert.is((await validateServeConfig({ models }, dir)).grpcPort, undefined, 'off when absent');
  await rejectsWith(validateServeConfig({ models, grpcPort: 'grpc' }, dir), ErrorCode.INVALID_CONFIG, 'grpcPort');
  await rejectsWith(validateServeConfig({ models, grpcPort: 70000 }, dir), ErrorCode.INVALID_CONFIG, 'grpcPort');
  await rejectsWith(
    validateServeConfig({ models, port: 9000, grpcPort: 9000 }, dir),
    ErrorCode.INVALID_CONFIG,
    'grpcPort',
  );
  await rejectsWith(
    validateServeConfig({ models, limits: { grpcKeepaliveTimeMs: 0 } }, dir),
    ErrorCode.INVALID_CONFIG,
    'limits.grpcKeepaliveTimeMs',
  );
});

config('a gRPC port that cannot be bound stops the start: the server never reports ready on HTTP alone', async () => {
  const taken: NetServer = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  const port = (taken.address() as { port: number }).port;
  try {
    await rejectsWith(startTest({ grpcPort: port, models: [tinyModel('m')] }), ErrorCode.INVALID_CONFIG, 'grpcPort');
  } finally {
    taken.close();
  }
});

const tls = suite('serve: gRPC over TLS');

/** A self-signed certificate for 127.0.0.1 made by the openssl CLI, or null where there is none. */
function selfSigned(): { key: Buffer; cert: Buffer } | null {
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=IP:127.0.0.1,DNS:localhost',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    );
  } catch {
    return null;
  }
  return { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) };
}

tls("with the configuration's key and certificate, gRPC is served over TLS and refuses plaintext", async () => {
  const pair = selfSigned();
  if (!pair) {
    console.log('  skip: no openssl CLI to make a certificate with');
    return;
  }
  const http = await startTest({ grpcPort: 0, tls: pair, models: [tinyModel('m')] });
  const secure = connect(http.grpc!.target, grpc.credentials.createSsl(pair.cert), {
    'grpc.ssl_target_name_override': 'localhost',
  });
  const plain = connect(http.grpc!.target, grpc.credentials.createInsecure());
  try {
    assert.equal((await unary(secure.inference, 'ServerReady', {})).response, { ready: true });
    const infer = await unary(secure.inference, 'ModelInfer', {
      model_name: 'm',
      inputs: [{ name: 'image', datatype: 'FP32', shape: [1, 16, 16, 3] }],
      raw_input_contents: [Buffer.alloc(16 * 16 * 3 * 4)],
    });
    assert.is(infer.error, undefined, infer.error?.details);
    assert.is(
      (await unary(plain.inference, 'ServerReady', {}, { timeoutMs: 2000 })).error?.code,
      grpc.status.UNAVAILABLE,
    );
  } finally {
    secure.close();
    plain.close();
    await http.close();
  }
});

const shutdown = suite('serve: SIGTERM drains gRPC with HTTP');

shutdown(
  '--grpc-port: readiness false on both at once, gRPC calls already received answered, the process exits within the grace',
  async () => {
    const graceMs = 5000;
    const path = join(dir, 'drain.json');
    writeFileSync(
      path,
      JSON.stringify({
        backend: 'wasm',
        tokens: 1,
        limits: { shutdownGraceMs: graceMs },
        models: [{ name: 'slow', model: { module: tinyPath, options: slowOptions } }],
      }),
    );
    const serve = await startServe(path, ['--grpc-port', '0']);
    const target = /"grpc":"([^"]+)"/.exec(serve.output())![1];
    const client = connect(target);
    try {
      assert.equal((await unary(client.inference, 'ServerReady', {})).response, { ready: true });
      const inFlight = Array.from({ length: 8 }, () =>
        unary(client.inference, 'ModelInfer', rawSlow()).then((answer) => ({ ...answer, atMs: performance.now() })),
      );
      await new Promise((resolve) => setTimeout(resolve, 150));
      const signalledAt = performance.now();
      serve.child.kill('SIGTERM');
      await serve.waitFor(/draining/);
      const grpcReady = await unary(client.inference, 'ServerReady', {});
      const health = await unary(client.health, 'Check', { service: '' });
      const httpReady = await get(`${serve.url}/v2/health/ready`);
      const late = await unary(client.inference, 'ModelInfer', rawSlow());
      const answers = await Promise.all(inFlight);
      const { code, atMs } = await Promise.race([
        serve.exited,
        new Promise<{ code: null; atMs: number }>((resolve) =>
          setTimeout(() => resolve({ code: null, atMs: Infinity }), graceMs + 3000),
        ),
      ]);

      assert.equal(grpcReady.response, { ready: false });
      assert.equal(health.response, { status: 'NOT_SERVING' });
      assert.is(httpReady.status, 503);
      assert.is(late.error?.code, grpc.status.UNAVAILABLE, 'a call after the signal is told to go elsewhere');
      assert.equal(
        answers.map((a) => a.error?.code ?? 'ok'),
        Array(8).fill('ok'),
        'every call received before the signal is answered',
      );
      assert.is(code, 0, serve.output().slice(-2000));
      assert.ok(
        atMs - signalledAt < graceMs,
        `exited ${Math.round(atMs - signalledAt)} ms after SIGTERM; the grace is ${graceMs} ms`,
      );
    } finally {
      client.close();
      serve.child.kill('SIGKILL');
    }
  },
);

shutdown.after(() => rmSync(dir, { recursive: true, force: true }));

config.run();
tls.run();
shutdown.run();
