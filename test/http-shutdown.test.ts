/**
 * `olympian serve` shutting down under a hostile client, as its own process: the first SIGTERM turns
 * readiness to 503 at once, drops a connection still sending its body, answers the requests already
 * received, and exits within the grace; a second SIGTERM ends it at once. `slow` takes tens of ms per
 * request, so a dozen requests keep a drain open for a few hundred ms.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startServe, type ServeProcess } from './fixtures/http/cli.js';
import { get, imageRows, post, tinyModule } from './fixtures/http/helpers.js';
import { postHead, rawConnect } from './fixtures/http/raw.js';

const dir = mkdtempSync(join(tmpdir(), 'olympian-shutdown-'));
const slow = {
  name: 'slow',
  model: { module: fileURLToPath(tinyModule), options: { inputSize: 32, channels: 96, layers: 8 } },
};

function writeConfig(name: string, limits: object): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify({ backend: 'wasm', tokens: 1, limits, models: [slow] }));
  return path;
}

/** A client that sends the headers and half the body of a predict request, then nothing. */
async function stalledUpload(url: string) {
  const raw = await rawConnect(url);
  raw.socket.write(postHead('/v1/models/slow:predict', 100_000) + '{"instances": [[[[0.5, 0.5, 0.5], ');
  return raw;
}

/** Requests to `slow` whose answers (or failures, as status 0) are timed as they come back. */
function inFlight(url: string, count: number) {
  return Array.from({ length: count }, () =>
    post(`${url}/v1/models/slow:predict`, { instances: [imageRows(32)] }).then(
      (answer) => ({ status: answer.status, atMs: performance.now() }),
      () => ({ status: 0, atMs: performance.now() }),
    ),
  );
}

async function accepted(serve: ServeProcess, count: number): Promise<void> {
  const started = Date.now();
  while (serve.count(/incoming request/) < count) {
    if (Date.now() - started > 20_000)
      assert.unreachable(`only ${serve.count(/incoming request/)} of ${count} requests arrived`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const shutdown = suite('serve: shutdown under a stalled upload');

shutdown(
  'SIGTERM: readiness is 503 at once, a stalled upload is dropped, received requests are answered, the process exits within the grace',
  async () => {
    const graceMs = 5000;
    const serve = await startServe(writeConfig('drain.json', { shutdownGraceMs: graceMs }));
    try {
      const stalled = await stalledUpload(serve.url);
      const requests = inFlight(serve.url, 12);
      await accepted(serve, 13);
      const signalledAt = performance.now();
      serve.child.kill('SIGTERM');
      await serve.waitFor(/draining/);
      const ready = await get(`${serve.url}/v2/health/ready`);
      const modelReady = await get(`${serve.url}/v2/models/slow/ready`);
      const {
        afterMs: stalledClosedAfterMs,
        atMs: stalledClosedAtMs,
        text,
      } = await stalled.closedWithin(graceMs + 3000);
      const answers = await Promise.all(requests);
      const { code, atMs } = await Promise.race([
        serve.exited,
        new Promise<{ code: null; atMs: number }>((resolve) =>
          setTimeout(() => resolve({ code: null, atMs: Infinity }), graceMs + 3000),
        ),
      ]);

      assert.equal([ready.status, ready.body.ready], [503, false]);
      assert.equal([modelReady.status, modelReady.body.ready], [503, false]);
      assert.equal(
        answers.map((a) => a.status),
        Array(12).fill(200),
        'every request received before the signal is answered',
      );
      assert.ok(Number.isFinite(stalledClosedAfterMs), 'the stalled upload was dropped');
      assert.is(text, '', 'the stalled upload gets no answer');
      assert.ok(stalledClosedAtMs < Math.max(...answers.map((a) => a.atMs)), 'dropped at once, not after the drain');
      assert.is(code, 0, serve.output().slice(-2000));
      assert.ok(
        atMs - signalledAt < graceMs,
        `exited ${Math.round(atMs - signalledAt)} ms after SIGTERM; the grace is ${graceMs} ms`,
      );
    } finally {
      serve.child.kill('SIGKILL');
    }
  },
);

shutdown('a second SIGTERM ends the drain at once: queued requests fail and the process exits', async () => {
  const serve = await startServe(writeConfig('second.json', { shutdownGraceMs: 60_000 }));
  try {
    const stalled = await stalledUpload(serve.url);
    const requests = inFlight(serve.url, 40);
    await accepted(serve, 41);
    serve.child.kill('SIGTERM');
    await serve.waitFor(/draining/);
    const secondAt = performance.now();
    serve.child.kill('SIGTERM');
    const { code, atMs } = await Promise.race([
      serve.exited,
      new Promise<{ code: null; atMs: number }>((resolve) =>
        setTimeout(() => resolve({ code: null, atMs: Infinity }), 5000),
      ),
    ]);
    const answers = await Promise.all(requests);
    await stalled.closed;

    assert.ok(Number.isFinite(atMs), 'the process exited');
    assert.is(code, 0, `the close finished by itself rather than by the forced exit:\n${serve.output().slice(-2000)}`);
    assert.ok(
      answers.some((a) => a.status !== 200),
      'queued requests were failed, not run',
    );
    assert.ok(
      answers.filter((a) => a.status !== 200).every((a) => a.atMs - secondAt < 1000),
      'and failed at once',
    );
    assert.ok(atMs - secondAt < 1500, `exited ${Math.round(atMs - secondAt)} ms after the second SIGTERM`);
  } finally {
    serve.child.kill('SIGKILL');
  }
});

shutdown.after(() => rmSync(dir, { recursive: true, force: true }));
shutdown.run();
