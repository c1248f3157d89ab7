import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { DeviceArbiter } from '../src/arbiter/arbiter.js';
import { kTraceCapacity } from '../src/arbiter/layout.js';
import { TokenClient } from '../src/arbiter/token-client.js';
import { holdIntervals } from '../src/arbiter/trace.js';
import { fixtureWorker, nextMessage, stopWorkers } from './helpers.js';

const trace = suite('token trace');

trace('records nothing until turned on, then grants and releases in order', () => {
  const arbiter = new DeviceArbiter({ tokens: 1 });
  const a = new TokenClient(arbiter.register({ name: 'a' }));
  const b = new TokenClient(arbiter.register({ name: 'b' }));
  a.acquire();
  a.release(1);
  assert.equal(arbiter.readTrace().events, [], 'tracing is off by default');
  arbiter.setTracing(true);
  a.acquire();
  assert.not.ok(b.request());
  a.release(1);
  b.awaitGrant();
  b.release(1);
  const { events, dropped } = arbiter.readTrace();
  assert.is(dropped, 0);
  assert.equal(
    events.map((e) => `${e.event} ${e.session}`),
    ['grant a', 'release a', 'grant b', 'release b'],
  );
  assert.ok(
    events.every((e, i) => i === 0 || e.atMs >= events[i - 1].atMs),
    'times never go back',
  );
  const holds = holdIntervals(events);
  assert.equal(
    holds.map((h) => h.session),
    ['a', 'b'],
  );
  assert.ok(holds[0].endMs <= holds[1].startMs);
  arbiter.setTracing(false);
  a.acquire();
  a.release(1);
  assert.is(arbiter.readTrace().events.length, 4, 'off again: nothing more is written');
  arbiter.close();
});

trace('a reclaimed holder ends its hold in the trace', () => {
  const arbiter = new DeviceArbiter({ tokens: 1 });
  const a = new TokenClient(arbiter.register({ name: 'a' }));
  arbiter.setTracing(true);
  a.acquire();
  arbiter.reclaim(a.slot);
  assert.equal(
    arbiter.readTrace().events.map((e) => e.event),
    ['grant', 'release'],
  );
  arbiter.close();
});

trace('the ring keeps the newest events and counts the dropped ones', () => {
  const arbiter = new DeviceArbiter({ tokens: 1 });
  const a = new TokenClient(arbiter.register({ name: 'a' }));
  arbiter.setTracing(true);
  const rounds = kTraceCapacity;
  for (let i = 0; i < rounds; i++) {
    a.acquire();
    a.release(0.001);
  }
  const { events, dropped } = arbiter.readTrace();
  assert.is(events.length, kTraceCapacity);
  assert.is(dropped, rounds * 2 - kTraceCapacity);
  assert.is(events.at(-1)!.event, 'release');
  assert.ok(
    events.every((e, i) => e.event === (i % 2 === 0 ? 'grant' : 'release')),
    'the kept events still alternate',
  );
  arbiter.close();
});

trace('holds never overlap with one token across real threads', async () => {
  const arbiter = new DeviceArbiter({ tokens: 1, policy: 'fair' });
  arbiter.setTracing(true);
  const counters = new SharedArrayBuffer(16);
  const workers = Array.from({ length: 3 }, (_, i) => {
    const grant = arbiter.register({ name: `s${i}` });
    const worker = fixtureWorker('token-holder.worker.js', { grant, counters, rounds: 400, tokens: 1 });
    arbiter.watch(worker, grant.slot);
    return worker;
  });
  try {
    await Promise.all(workers.map((w) => nextMessage(w, 'done')));
    const { events, dropped } = arbiter.readTrace();
    assert.is(dropped, 0, `events ${events.length}`);
    const holds = holdIntervals(events);
    assert.ok(new Set(holds.map((h) => h.session)).size === 3, 'every session held the token');
    for (let i = 1; i < holds.length; i++) {
      assert.ok(
        holds[i].startMs >= holds[i - 1].endMs,
        `hold ${i} (${holds[i].session}) starts before hold ${i - 1} (${holds[i - 1].session}) ended`,
      );
    }
    assert.is(holds.length, events.filter((e) => e.event === 'grant').length);
  } finally {
    await stopWorkers(workers);
    arbiter.close();
  }
});

trace.run();
