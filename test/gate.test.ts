import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { DeviceArbiter } from '../src/arbiter/arbiter.js';
import { TokenClient } from '../src/arbiter/token-client.js';
import { KernelGate } from '../src/arbiter/kernel-gate.js';

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

s('with a CPU clock each charge is the CPU time since the last, the time between units included', () => {
  const arbiter = new DeviceArbiter({ quantumMs: 1 });
  const grant = arbiter.register({ name: 'a' });
  let cpuMs = 100;
  const charges: number[] = [];
  const cpuClock = { nowMs: () => cpuMs, close() {} };
  const gate = new KernelGate(new TokenClient(grant), undefined, {
    cpuClock,
    onCharged: (costMs) => charges.push(costMs),
  });
  const charged = () => arbiter.stats().sessions.find((row) => row.slot === grant.slot)!.chargedMs;
  try {
    gate.begin();
    // Held 1.2 ms of occupancy, but other threads had the core for part of it: 0.7 ms of CPU.
    cpuMs += 0.7;
    gate.charge(0.6);
    gate.charge(0.6);
    assert.ok(Math.abs(charged() - 0.7) < 1e-9, 'the boundary charges CPU time, not occupancy');
    cpuMs += 0.3;
    gate.charge(0.5);
    gate.end();
    assert.ok(Math.abs(charged() - 1) < 1e-9);
    // Work between units (a reply, the next request's message) is charged with the next unit.
    cpuMs += 0.2;
    gate.end();
    assert.ok(Math.abs(charged() - 1) < 1e-9, 'nothing is charged without the token');
    gate.begin();
    cpuMs += 0.4;
    gate.end();
    assert.ok(Math.abs(charged() - 1.6) < 1e-9);
    // Nothing is left out, not even a wait for the token: the clock lags, so what it shows after a wait can
    // be work done before it (0.25 ms here, beside 0.4 in the unit).
    gate.begin();
    cpuMs += 0.25 + 0.4;
    gate.end();
    assert.ok(Math.abs(charged() - 2.25) < 1e-9, `charged ${charged()}`);
    // The session's own total hears of every charge, so it is the arbiter's.
    assert.equal(
      charges.map((ms) => Math.round(ms * 1e9) / 1e9),
      [0.7, 0.3, 0.6, 0.65],
    );
  } finally {
    arbiter.close();
  }
});

s.run();
