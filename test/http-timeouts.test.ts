/**
 * Slow and silent clients are cut when their configured timeout falls due, not at Node's 30-second
 * connection check. The timeouts are far apart (headers 300 ms, idle 700 ms, body 1500 ms), so each case
 * also shows which rule closed its connection: a 408 comes from the headers or body timeout, a bare close
 * from the idle one.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { HttpServer } from '../src/http/http-server.js';
import { imageRows, post, startTest, tinyModel } from './fixtures/http/helpers.js';
import { postHead, rawConnect } from './fixtures/http/raw.js';

const limits = { headersTimeoutMs: 300, idleTimeoutMs: 700, bodyTimeoutMs: 1500, keepAliveTimeoutMs: 200 };
let http: HttpServer;
let url: string;

/** Closed no earlier than `fromMs` (less a timer's slack) and before `beforeMs`. */
function closedBetween(afterMs: number, fromMs: number, beforeMs: number): void {
  assert.ok(
    afterMs >= fromMs - 15 && afterMs < beforeMs,
    `closed after ${Math.round(afterMs)} ms; expected from ${fromMs} to ${beforeMs} ms`,
  );
}

const timeouts = suite('HTTP timeouts: slow and silent clients');
timeouts.before(async () => {
  http = await startTest({
    models: [tinyModel('m'), tinyModel('slow', { inputSize: 32, channels: 96, layers: 8 })],
    limits,
  });
  url = http.url;
});
timeouts.after(async () => http.close());

timeouts('headers trickled a line at a time get a 408 at headersTimeoutMs', async () => {
  const raw = await rawConnect(url);
  raw.socket.write('POST /v1/models/m:predict HTTP/1.1\r\nHost: 127.0.0.1\r\n');
  raw.trickle('X-Slow: 1\r\n', 50);
  const { afterMs, text } = await raw.closedWithin(limits.idleTimeoutMs);
  assert.match(text, /^HTTP\/1\.1 408 /);
  closedBetween(afterMs, limits.headersTimeoutMs, limits.idleTimeoutMs);
});

timeouts('a socket that never sends a byte is closed at headersTimeoutMs', async () => {
  const raw = await rawConnect(url);
  const { afterMs } = await raw.closedWithin(limits.idleTimeoutMs);
  closedBetween(afterMs, limits.headersTimeoutMs, limits.idleTimeoutMs);
});

timeouts('a body that stops half-way is dropped at idleTimeoutMs', async () => {
  const raw = await rawConnect(url);
  raw.socket.write(postHead('/v1/models/m:predict', 1000) + '{"instances": [');
  const { afterMs, text } = await raw.closedWithin(limits.bodyTimeoutMs);
  assert.is(text, '', 'no answer: the client is gone as far as the server is concerned');
  closedBetween(afterMs, limits.idleTimeoutMs, limits.bodyTimeoutMs);
});

timeouts('a body trickled byte by byte gets a 408 at bodyTimeoutMs', async () => {
  const raw = await rawConnect(url);
  raw.socket.write(postHead('/v1/models/m:predict', 100_000) + '{"instances": [');
  raw.trickle('1,', 50);
  const { afterMs, text } = await raw.closedWithin(limits.bodyTimeoutMs + limits.idleTimeoutMs);
  assert.match(text, /^HTTP\/1\.1 408 /);
  closedBetween(afterMs, limits.bodyTimeoutMs, limits.bodyTimeoutMs + limits.idleTimeoutMs);
});

timeouts('an idle kept-alive connection is closed at keepAliveTimeoutMs (plus the second Node adds)', async () => {
  const raw = await rawConnect(url);
  raw.socket.write('GET /v2/health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
  const { afterMs, text } = await raw.closedWithin(limits.keepAliveTimeoutMs + 1000 + limits.idleTimeoutMs);
  assert.match(text, /^HTTP\/1\.1 200 /);
  assert.match(text, /Keep-Alive: timeout=0/i);
  closedBetween(afterMs, limits.keepAliveTimeoutMs + 1000, limits.keepAliveTimeoutMs + 1000 + limits.idleTimeoutMs);
});

timeouts(
  'an answer that takes longer than idleTimeoutMs is still given: the server, not the client, is slow',
  async () => {
    // Forty requests ahead of it keep the session busy for well over the idle timeout.
    const cut = () => ({ status: 0 });
    const ahead = Array.from({ length: 40 }, () =>
      post(`${url}/v1/models/slow:predict`, { instances: [imageRows(32)] }).catch(cut),
    );
    const startedAt = performance.now();
    const late = await post(
      `${url}/v1/models/slow:predict`,
      { instances: [imageRows(32)] },
      { 'x-olympian-priority': '-1' },
    ).catch(cut);
    const tookMs = performance.now() - startedAt;
    assert.is(late.status, 200);
    assert.ok(
      tookMs > limits.idleTimeoutMs,
      `the answer took ${Math.round(tookMs)} ms, not long enough to test anything`,
    );
    for (const answer of await Promise.all(ahead)) assert.is(answer.status, 200);
  },
);

timeouts.run();
