import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { DeviceArbiter, type ArbiterOptions } from '../src/arbiter/arbiter.js';
import { TokenClient } from '../src/arbiter/token-client.js';
import { ErrorCode, OlympianError } from '../src/protocol/errors.js';

function throwsConfig(fn: () => unknown, field: string) {
  try {
    fn();
  } catch (error) {
    assert.instance(error, OlympianError);
    assert.is((error as OlympianError).code, ErrorCode.INVALID_CONFIG);
    assert.is((error as OlympianError).field, field);
    assert.match((error as Error).message, field);
    return;
  }
  assert.unreachable(`expected INVALID_CONFIG for ${field}`);
}

const config = suite('arbiter configuration');

config('rejects bad options with INVALID_CONFIG naming the field', () => {
  const bad: Array<[ArbiterOptions, string]> = [
    [{ policy: 'lottery' as never }, 'policy'],
    [{ quantumMs: 0 }, 'quantumMs'],
    [{ quantumMs: -1 }, 'quantumMs'],
    [{ quantumMs: Number.NaN }, 'quantumMs'],
    [{ quantumMs: 1e-300 }, 'quantumMs'],
    [{ quantumMs: 0.0004 }, 'quantumMs'],
    [{ quantumMs: 2_147_484 }, 'quantumMs'],
    [{ tokens: 0 }, 'tokens'],
    [{ tokens: 1.5 }, 'tokens'],
    [{ windowMs: Infinity }, 'windowMs'],
    [{ heirSpin: 'yes' as never }, 'heirSpin'],
    [{ spinUs: -5 }, 'spinUs'],
  ];
  for (const [options, field] of bad) throwsConfig(() => new DeviceArbiter(options), field);
});

config('rejects weights that are not finite and positive', () => {
  const arbiter = new DeviceArbiter();
  for (const weight of [0, -1, Infinity, Number.NaN]) {
    throwsConfig(() => arbiter.register({ name: 'm', weight }), 'sessions.m.weight');
  }
  const { slot } = arbiter.register({ name: 'ok', weight: 2 });
  throwsConfig(() => arbiter.setWeight(slot, 0), 'sessions.ok.weight');
  throwsConfig(() => arbiter.setPriority(slot, 0.5), 'sessions.ok.priority');
  throwsConfig(() => arbiter.setPolicy('nope' as never), 'policy');
  throwsConfig(() => arbiter.setQuantum(0), 'quantumMs');
  throwsConfig(() => arbiter.setQuantum(1e-300), 'quantumMs');
  arbiter.setQuantum(0.001);
  assert.is(arbiter.quantumMs, 0.001, 'the smallest quantum the buffer holds is stored as it is, not as 0');
  throwsConfig(() => arbiter.setLagQuanta(1.5), 'lagQuanta');
  arbiter.setLagQuanta(0);
  assert.is(arbiter.lagQuanta, 0);
  arbiter.close();
});

config('refuses a 65th session on one device', () => {
  const arbiter = new DeviceArbiter();
  for (let i = 0; i < 64; i++) arbiter.register({ name: `s${i}` });
  throwsConfig(() => arbiter.register({ name: 'one-too-many' }), 'sessions');
  arbiter.close();
});

config('reuses a freed slot', () => {
  const arbiter = new DeviceArbiter();
  const a = arbiter.register({ name: 'a' });
  arbiter.register({ name: 'b' });
  arbiter.unregister(a.slot);
  const c = arbiter.register({ name: 'c' });
  assert.is(c.slot, a.slot);
  assert.ok(c.generation > a.generation);
  assert.equal(
    arbiter
      .stats()
      .sessions.map((s) => s.name)
      .sort(),
    ['b', 'c'],
  );
  arbiter.close();
});

config.run();

const books = suite('arbiter books (one thread)');

books('a late release from a reclaimed holder does not grant a second token', () => {
  const arbiter = new DeviceArbiter({ tokens: 1 });
  const stale = new TokenClient(arbiter.register({ name: 'stale' }));
  const b = new TokenClient(arbiter.register({ name: 'b' }));
  const c = new TokenClient(arbiter.register({ name: 'c' }));
  stale.acquire();
  arbiter.reclaim(stale.slot);
  assert.is(arbiter.stats().freeTokens, 1);
  assert.ok(b.request(), 'the reclaimed token is free for b');
  stale.release(1);
  assert.is(arbiter.stats().freeTokens, 0, 'the stale release changed nothing');
  assert.not.ok(c.request(), 'c must wait: b still holds the only token');
  b.release(1);
  c.awaitGrant();
  assert.ok(c.holding);
  c.release(1);
  assert.throws(
    () => stale.acquire(),
    (e: OlympianError) => e.code === ErrorCode.UNAVAILABLE,
  );
  arbiter.close();
});

books('a yield from a session without a token grants nothing', () => {
  const arbiter = new DeviceArbiter({ tokens: 1 });
  const a = new TokenClient(arbiter.register({ name: 'a' }));
  const b = new TokenClient(arbiter.register({ name: 'b' }));
  const c = new TokenClient(arbiter.register({ name: 'c' }));
  a.acquire();
  assert.not.ok(b.request());
  a.release(1);
  b.awaitGrant();
  assert.not.ok(c.request(), 'c waits behind b');
  assert.not.ok(a.yield(5), 'a holds nothing to hand over');
  const states = arbiter.stats().sessions.map((s) => s.state);
  assert.equal(states, ['idle', 'holding', 'waiting']);
  assert.is(arbiter.stats().freeTokens, 0);
  b.release(1);
  c.awaitGrant();
  c.release(1);
  arbiter.close();
});

books('yield alone is free: no handoff, cost still charged', () => {
  const arbiter = new DeviceArbiter({ tokens: 1 });
  const a = new TokenClient(arbiter.register({ name: 'a' }));
  a.acquire();
  for (let i = 0; i < 100; i++) assert.not.ok(a.yield(0.5));
  a.release(0);
  const [row] = arbiter.stats().sessions;
  assert.is(row.chargedMs, 50);
  assert.is(row.grants, 1);
  assert.is(row.share, 1);
  arbiter.close();
});

books('a session back from idle starts one quantum behind the active minimum, no further', () => {
  const arbiter = new DeviceArbiter({ tokens: 2, quantumMs: 2, policy: 'weighted' });
  const busy = new TokenClient(arbiter.register({ name: 'busy' }));
  const idle = new TokenClient(arbiter.register({ name: 'idle', weight: 4 }));
  busy.acquire();
  busy.yield(40);
  idle.acquire();
  assert.is(
    arbiter.stats().accounts[1].virtualTime,
    40 - 2 / 4,
    'credit for one quantum at its weight, none for the time it was idle',
  );
  busy.release(0);
  idle.release(0);
  arbiter.close();
});

books('a session that gave the token up with work on the way keeps its place when it asks again', () => {
  const arbiter = new DeviceArbiter({ tokens: 2, quantumMs: 2, policy: 'weighted' });
  const busy = new TokenClient(arbiter.register({ name: 'busy' }));
  const behind = new TokenClient(arbiter.register({ name: 'behind' }));
  busy.acquire();
  busy.yield(40);
  behind.acquire();
  assert.is(arbiter.stats().accounts[1].virtualTime, 38, 'placed one quantum behind, as above');
  busy.yield(40);
  // 42 ms behind now, and its next unit is on the way: it stays 42 ms behind.
  behind.release(0, true);
  behind.acquire();
  assert.is(arbiter.stats().accounts[1].virtualTime, 38, 'not set forward as if back from idle');
  // With nothing on the way it is back from idle next time: one quantum behind.
  behind.release(0);
  behind.acquire();
  assert.is(arbiter.stats().accounts[1].virtualTime, 80 - 2);
  busy.release(0);
  behind.release(0);
  arbiter.close();
});

books('shares and decayed shares add up to one', () => {
  const arbiter = new DeviceArbiter({ tokens: 2, windowMs: 100 });
  const a = new TokenClient(arbiter.register({ name: 'a' }));
  const b = new TokenClient(arbiter.register({ name: 'b' }));
  a.acquire();
  b.acquire();
  a.release(30);
  b.release(10);
  const rows = arbiter.stats().sessions;
  assert.is(rows[0].share, 0.75);
  assert.ok(Math.abs(rows[0].decayedShare + rows[1].decayedShare - 1) < 1e-9);
  arbiter.close();
});

books('setPolicy restarts every virtual time at zero', () => {
  const arbiter = new DeviceArbiter();
  const a = new TokenClient(arbiter.register({ name: 'a' }));
  a.acquire();
  a.release(5);
  assert.is(arbiter.stats().accounts[0].virtualTime, 5);
  arbiter.setPolicy('weighted');
  assert.is(arbiter.policy, 'weighted');
  assert.is(arbiter.stats().accounts[0].virtualTime, 0);
  arbiter.close();
});

books('closing wakes nobody into a token and refuses new sessions', () => {
  const arbiter = new DeviceArbiter();
  arbiter.register({ name: 'a' });
  arbiter.close();
  assert.is(arbiter.stats().sessions[0].state, 'dead');
  assert.throws(
    () => arbiter.register({ name: 'b' }),
    (e: OlympianError) => e.code === ErrorCode.UNAVAILABLE,
  );
});

books('instances of one model charge one account: one virtual time, one weight, one share', () => {
  const arbiter = new DeviceArbiter({ tokens: 3, policy: 'weighted' });
  const first = arbiter.register({ name: 'm#0', weight: 2 });
  const grants = [
    first,
    arbiter.register({ name: 'm#1', account: first.account }),
    arbiter.register({ name: 'm#2', account: first.account }),
  ];
  const other = new TokenClient(arbiter.register({ name: 'solo' }));
  const clients = grants.map((grant) => new TokenClient(grant));
  for (const client of clients) client.acquire();
  clients.forEach((client, i) => client.yield(10 * (i + 1)));
  let { accounts, sessions } = arbiter.stats();
  assert.equal(
    accounts.map((a) => a.slots.length),
    [3, 1],
  );
  assert.is(accounts[0].chargedMs, 60);
  assert.is(accounts[0].virtualTime, 60 / 2, "charged at the model's weight, summed over its instances");
  assert.is(accounts[0].holding, 3);
  assert.equal(
    sessions.map((row) => row.weight),
    [2, 2, 2, 1],
  );
  arbiter.setWeight(grants[2].slot, 6);
  assert.equal(
    arbiter.stats().sessions.map((row) => row.weight),
    [6, 6, 6, 1],
    "a weight change through any instance is the model's",
  );
  // An instance that leaves takes nothing of its model's virtual time or charge with it.
  clients[2].release(0);
  arbiter.unregister(grants[2].slot);
  ({ accounts } = arbiter.stats());
  assert.is(accounts[0].chargedMs, 60);
  assert.is(accounts[0].virtualTime, 30);
  assert.equal(accounts[0].slots, [0, 1]);
  clients[0].release(0);
  clients[1].release(0);
  other.acquire();
  other.release(0);
  arbiter.close();
});

books('a sibling joining an unknown account is refused; the last instance frees the account', () => {
  const arbiter = new DeviceArbiter();
  assert.throws(
    () => arbiter.register({ name: 'x', account: 7 }),
    (e: OlympianError) => e.code === ErrorCode.NOT_FOUND,
  );
  const a = arbiter.register({ name: 'a' });
  arbiter.unregister(a.slot);
  const b = arbiter.register({ name: 'b', weight: 3 });
  assert.is(b.account, a.account, 'the freed account is reused');
  assert.is(arbiter.stats().accounts[0].chargedMs, 0, 'from nothing');
  assert.is(arbiter.stats().accounts[0].weight, 3);
  arbiter.close();
});

books.run();
