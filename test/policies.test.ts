import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { SlotState, type SlotState as State } from '../src/arbiter/layout.js';
import { fair, priority, weighted, type Policy, type PolicyView } from '../src/arbiter/policies/index.js';

interface FakeSlot {
  state: State;
  /** The model it is an instance of; by default its own. */
  account?: number;
  vt?: number;
  weight?: number;
  priority?: number;
  grantedAt?: number;
}

const viewOf = (slots: FakeSlot[]): PolicyView => ({
  slotCount: slots.length,
  state: (s) => slots[s].state,
  account: (s) => slots[s].account ?? s,
  virtualTime: (s) => slots[s].vt ?? 0,
  weight: (s) => slots[s].weight ?? 1,
  priority: (s) => slots[s].priority ?? 0,
  grantedAt: (s) => slots[s].grantedAt ?? 0,
});

const { WAITING: W, HOLDING: H, IDLE: I, DEAD: D } = SlotState;

/** Replays SFQ with K = 1: every session backlogged, each holding for one quantum, charging `costMs`. */
function simulate(policy: Policy, weights: number[], costMs: number[], rounds: number, priorities?: number[]) {
  const slots: FakeSlot[] = weights.map((weight, i) => ({ state: W, vt: 0, weight, priority: priorities?.[i] ?? 0 }));
  const charged = weights.map(() => 0);
  let holder = policy.pick(viewOf(slots), -1);
  slots[holder].state = H;
  for (let round = 0; round < rounds; round++) {
    charged[holder] += costMs[holder];
    slots[holder].vt! += policy.advance(costMs[holder], slots[holder].weight!);
    const next = policy.pick(viewOf(slots), holder);
    if (next !== holder) {
      slots[holder].state = W;
      slots[next].state = H;
      slots[next].grantedAt = round + 1;
      holder = next;
    }
  }
  return charged;
}

const shares = (charged: number[]) => {
  const total = charged.reduce((a, b) => a + b, 0);
  return charged.map((c) => c / total);
};

const fairSuite = suite('fair policy');

fairSuite('gives the token to the smallest virtual time', () => {
  assert.is(
    fair.pick(
      viewOf([
        { state: W, vt: 5 },
        { state: W, vt: 2 },
        { state: W, vt: 9 },
      ]),
      -1,
    ),
    1,
  );
});

fairSuite('ignores idle and dead slots', () => {
  assert.is(
    fair.pick(
      viewOf([
        { state: I, vt: 0 },
        { state: D, vt: 0 },
        { state: W, vt: 7 },
      ]),
      -1,
    ),
    2,
  );
  assert.is(fair.pick(viewOf([{ state: I }, { state: D }]), -1), -1);
});

fairSuite('keeps the token with the holder while it is strictly behind', () => {
  assert.is(
    fair.pick(
      viewOf([
        { state: H, vt: 1 },
        { state: W, vt: 2 },
      ]),
      0,
    ),
    0,
  );
});

fairSuite('hands a tie to the waiter, then to the one served longest ago', () => {
  assert.is(
    fair.pick(
      viewOf([
        { state: H, vt: 2 },
        { state: W, vt: 2 },
      ]),
      0,
    ),
    1,
  );
  assert.is(
    fair.pick(
      viewOf([
        { state: W, vt: 2, grantedAt: 9 },
        { state: W, vt: 2, grantedAt: 3 },
      ]),
      -1,
    ),
    1,
  );
});

fairSuite('ignores weights', () => {
  assert.is(fair.advance(4, 8), 4);
  const charged = simulate(fair, [1, 5, 9], [1, 1, 1], 3000);
  for (const share of shares(charged)) assert.ok(Math.abs(share - 1 / 3) < 0.001, String(share));
});

fairSuite('equalises charged cost between sessions with different kernel sizes', () => {
  const charged = simulate(fair, [1, 1, 1, 1, 1], [0.05, 0.2, 0.5, 1, 2], 20000);
  for (const share of shares(charged)) assert.ok(Math.abs(share - 0.2) < 0.002, String(share));
});

fairSuite('keeps the token with its holder rather than hand it to another instance of the same model', () => {
  // Slots 0 and 1 are instances of model 0; slot 2 is model 2, at the same virtual time.
  const slots = [
    { state: H, account: 0, vt: 4 },
    { state: W, account: 0, vt: 4 },
    { state: I, vt: 4 },
  ];
  assert.is(fair.pick(viewOf(slots), 0), 0, 'a sibling gains its model nothing');
  slots[2].state = W;
  assert.is(fair.pick(viewOf(slots), 0), 2, 'another model at the same virtual time takes its turn');
  assert.is(
    fair.pick(
      viewOf([
        { state: W, account: 0, vt: 4 },
        { state: H, account: 0, vt: 4 },
      ]),
      1,
    ),
    1,
    'whichever slot holds',
  );
});

fairSuite.run();

const weightedSuite = suite('weighted policy');

weightedSuite('advances virtual time by cost over weight', () => {
  assert.is(weighted.advance(4, 8), 0.5);
});

weightedSuite('splits charged cost 1:2:4', () => {
  const charged = simulate(weighted, [1, 2, 4], [1, 1, 1], 7000);
  const got = shares(charged);
  [1 / 7, 2 / 7, 4 / 7].forEach((target, i) => assert.ok(Math.abs(got[i] - target) / target < 0.01, `${i}: ${got[i]}`));
});

weightedSuite('holds 1:2:3:4:5 with unequal kernel sizes', () => {
  const charged = simulate(weighted, [1, 2, 3, 4, 5], [2, 0.05, 1, 0.2, 0.5], 50000);
  const got = shares(charged);
  got.forEach((share, i) => {
    const target = (i + 1) / 15;
    assert.ok(Math.abs(share - target) / target < 0.03, `${i}: ${share} vs ${target}`);
  });
});

weightedSuite.run();

const prioritySuite = suite('priority policy');

prioritySuite('serves the highest class first whatever the virtual times', () => {
  const view = viewOf([
    { state: W, vt: 0, priority: 0 },
    { state: W, vt: 100, priority: 2 },
    { state: W, priority: 1 },
  ]);
  assert.is(priority.pick(view, -1), 1);
});

prioritySuite('takes the token from a lower-class holder at the next boundary', () => {
  assert.is(
    priority.pick(
      viewOf([
        { state: H, vt: 0, priority: 0 },
        { state: W, vt: 50, priority: 1 },
      ]),
      0,
    ),
    1,
  );
});

prioritySuite('keeps a higher-class holder even when a lower class waits', () => {
  assert.is(
    priority.pick(
      viewOf([
        { state: H, vt: 50, priority: 1 },
        { state: W, vt: 0, priority: 0 },
      ]),
      0,
    ),
    0,
  );
});

prioritySuite('is weighted-fair inside a class and starves lower classes', () => {
  const charged = simulate(priority, [1, 3, 1], [1, 1, 1], 4000, [5, 5, 0]);
  assert.is(charged[2], 0);
  assert.ok(Math.abs(charged[1] / charged[0] - 3) < 0.01, String(charged[1] / charged[0]));
});

prioritySuite.run();
