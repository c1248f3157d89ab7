import { readFileSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { DeviceArbiter } from '../src/arbiter/arbiter.js';
import { TokenClient } from '../src/arbiter/token-client.js';
import { KernelGate } from '../src/arbiter/kernel-gate.js';
import { threadCpuClock } from '../src/arbiter/os-thread.js';

const s = suite('kernel gate: quantum boundaries');

/** One session alone on an arbiter (a yield then never blocks), its gate, and what the arbiter charged it. */
function alone(deferYield: boolean) {
  const arbiter = new DeviceArbiter({ quantumMs: 1 });
  const grant = arbiter.register({ name: 'a' });
  let boundaries = 0;
  const gate = new KernelGate(new TokenClient(grant), () => boundaries++, { deferYield });
  const charged = () => arbiter.stats().sessions.find((row) => row.slot === grant.slot)!.chargedMs;
  return { arbiter, gate, charged, boundaries: () => boundaries };
}

s('a boundary yields at once, charged the quantum used', () => {
  const { arbiter, gate, charged, boundaries } = alone(false);
  try {
    gate.begin();
    gate.charge(0.6);
    assert.is(charged(), 0);
    gate.charge(0.6);
    assert.is(boundaries(), 1);
    assert.is(charged(), 1.2);
    assert.not.ok(gate.yieldDue);
    gate.end();
    assert.is(charged(), 1.2);
  } finally {
    arbiter.close();
  }
});

s('deferred (webgpu strict): the boundary submits once, the yield waits for yieldNow and charges all used', () => {
  const { arbiter, gate, charged, boundaries } = alone(true);
  try {
    gate.begin();
    gate.charge(1.5);
    assert.ok(gate.yieldDue);
    gate.charge(0.5); // kernels until the layer ends still run, and count
    assert.is(boundaries(), 1, 'one submit per boundary, not one per kernel past it');
    assert.is(charged(), 0, 'nothing offered before the caller has waited for the GPU');
    gate.yieldNow();
    assert.not.ok(gate.yieldDue);
    assert.is(charged(), 2);
    gate.yieldNow();
    assert.is(charged(), 2, 'a second yieldNow without a new boundary does nothing');
    gate.charge(1);
    assert.ok(gate.yieldDue, 'the next quantum starts after the yield');
  } finally {
    arbiter.close();
  }
});

s('deferred with nobody waiting: renewNow charges and starts a new quantum without offering the token', () => {
  const { arbiter, gate, charged } = alone(true);
  try {
    gate.begin();
    gate.charge(1.1);
    assert.not.ok(gate.othersWaiting);
    gate.renewNow();
    assert.not.ok(gate.yieldDue);
    assert.is(charged(), 1.1);
    gate.charge(0.5);
    assert.not.ok(gate.yieldDue, 'a fresh quantum');
    gate.end();
    assert.is(charged(), 1.6);
  } finally {
    arbiter.close();
  }
});

s('deferred: a due yield is offered at the end of the unit even when the session keeps the token', () => {
  const { arbiter, gate, charged } = alone(true);
  try {
    gate.begin();
    gate.charge(1.2);
    gate.end(true); // backlogged: keeps the token, but the quantum is used up
    assert.is(charged(), 1.2);
    assert.not.ok(gate.yieldDue);
    gate.charge(0.3);
    gate.end(false);
    assert.is(charged(), 1.5);
  } finally {
    arbiter.close();
  }
});

/** Session a's gate and session b's bare client on one token; `holder` is the slot holding it. */
function twoSessions(deferYield: boolean) {
  const arbiter = new DeviceArbiter({ quantumMs: 1 });
  const a = arbiter.register({ name: 'a' });
  const b = arbiter.register({ name: 'b' });
  const gate = new KernelGate(new TokenClient(a), () => {}, { deferYield });
  const waiter = new TokenClient(b);
  const holder = () => arbiter.stats().sessions.find((row) => row.state === 'holding')?.slot;
  return { arbiter, a, b, gate, waiter, holder };
}

s('a unit that ends inside its quantum keeps the token for the rest of it, whoever waits', () => {
  const { arbiter, a, b, gate, waiter, holder: holderOf } = twoSessions(false);
  try {
    gate.begin();
    assert.not.ok(waiter.request(), 'b waits for the one token');
    gate.charge(0.4);
    gate.end(true); // more of a's work follows; b, which has run nothing, is the policy's pick
    assert.is(holderOf(), a.slot, 'a keeps the token at the end of its unit');
    gate.begin();
    gate.charge(0.5); // 0.9 ms of the 1 ms quantum: still no boundary
    assert.is(holderOf(), a.slot);
    gate.end(false);
    assert.is(holderOf(), b.slot, 'released, the token goes to b');
    waiter.awaitGrant();
    assert.ok(waiter.holding);
    waiter.release(0);
  } finally {
    arbiter.close();
  }
});

s('a unit that ends with its quantum used up offers the token to the waiter the policy prefers', () => {
  // Deferred yields, so the boundary cannot block this thread: end() is where the token is offered.
  const { arbiter, b, gate, waiter, holder: holderOf } = twoSessions(true);
  try {
    gate.begin();
    assert.not.ok(waiter.request());
    gate.charge(1.2);
    gate.end(true);
    assert.is(holderOf(), b.slot);
    waiter.awaitGrant();
    waiter.release(0);
  } finally {
    arbiter.close();
  }
});

/** A gate alone on an arbiter, on a CPU clock the test moves by hand; `charges` hears every charge. */
function onCpuClock(startMs: number) {
  const arbiter = new DeviceArbiter({ quantumMs: 1 });
  const grant = arbiter.register({ name: 'a' });
  const clock = { ms: startMs };
  const charges: number[] = [];
  const gate = new KernelGate(new TokenClient(grant), undefined, {
    cpuClock: { nowMs: () => clock.ms, close() {} },
    onCharged: (costMs) => charges.push(costMs),
  });
  const charged = () => arbiter.stats().sessions.find((row) => row.slot === grant.slot)!.chargedMs;
  return { arbiter, gate, clock, charges, charged };
}

s("with a CPU clock the charges follow the thread's CPU time, not its occupancy", () => {
  const { arbiter, gate, clock, charges, charged } = onCpuClock(100);
  try {
    // Each 1 ms quantum of occupancy, the thread ran 0.6 ms (other threads had the core the rest of the time).
    gate.begin();
    for (let quantum = 0; quantum < 200; quantum++) {
      clock.ms += 0.6;
      gate.charge(1);
    }
    gate.end();
    const cpuMs = clock.ms - 100;
    // Within about a quantum: the charged total trails the CPU time by a bounded gap, whatever the window.
    assert.ok(Math.abs(charged() - cpuMs) < 2, `charged ${charged()} ms for ${cpuMs} ms of CPU (occupancy 200 ms)`);
    // Work between units (a reply, the next request's message) is charged later, not without the token.
    const before = charged();
    clock.ms += 5;
    gate.end();
    assert.is(charged(), before, 'nothing is charged without the token');
    gate.begin();
    for (let quantum = 0; quantum < 40; quantum++) {
      clock.ms += 0.6;
      gate.charge(0.6);
    }
    gate.end();
    assert.ok(Math.abs(charged() - (clock.ms - 100)) < 2, 'the work between units was charged with the next ones');
    // The session's own total hears of every charge, so it is the arbiter's.
    assert.ok(Math.abs(charges.reduce((sum, ms) => sum + ms, 0) - charged()) < 1e-9);
  } finally {
    arbiter.close();
  }
});

s('a CPU clock that moves in ticks still gives every quantum a charge near its length', () => {
  const { arbiter, gate, clock, charges, charged } = onCpuClock(0);
  try {
    // The kernel brings a thread's CPU time up to date at each 4 ms tick: the clock shows 1 ms quanta 4 at a time.
    let cpuMs = 0;
    gate.begin();
    for (let quantum = 0; quantum < 400; quantum++) {
      cpuMs += 1;
      clock.ms = Math.floor(cpuMs / 4) * 4;
      gate.charge(1);
    }
    gate.end();
    // Charged as the clock moves, three quanta in four would cost nothing: the holder would keep the token
    // through them, handing over once per tick.
    const steady = charges.slice(20, 400);
    assert.ok(
      Math.min(...steady) > 0.5 && Math.max(...steady) < 1.6,
      `charges ${Math.min(...steady)}–${Math.max(...steady)} ms`,
    );
    assert.ok(Math.abs(charged() - cpuMs) <= 4, `charged ${charged()} ms for ${cpuMs} ms of CPU`);
  } finally {
    arbiter.close();
  }
});

s("threadCpuClock reads the thread's run time from /proc, as the kernel prints it", () => {
  const clock = threadCpuClock();
  if (!clock) return; // no /proc here: sessions charge occupancy
  try {
    const printed = () => Number(readFileSync('/proc/thread-self/schedstat', 'latin1').split(' ')[0]) / 1e6;
    const before = printed();
    const read = clock.nowMs();
    const after = printed();
    // The count moves at ticks and context switches, so the three readings agree unless one landed between.
    assert.ok(read >= before && read <= after, `read ${read} ms, printed ${before} then ${after} ms`);
  } finally {
    clock.close();
  }
});

s.run();
