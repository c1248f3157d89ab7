import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { SlotState, type SlotState as State } from '../src/arbiter/layout.js';
import { deadline, fair, priority, weighted, type Policy, type PolicyView } from '../src/arbiter/policies/index.js';

interface FakeSlot {
  state: State;
  /** The model it is an instance of; by default its own. */
  account?: number;
  vt?: number;
  weight?: number;
  priority?: number;
  grantedAt?: number;
  /** Its account's earliest pending deadline (clock ms) and the predicted cost up to it. */
  deadlineAt?: number;
  headCostMs?: number;
}

interface FakeClock {
  nowMs?: number;
  quantumMs?: number;
  lagQuanta?: number;
}

const viewOf = (slots: FakeSlot[], clock: FakeClock = {}): PolicyView => ({
  slotCount: slots.length,
  state: (s) => slots[s].state,
  account: (s) => slots[s].account ?? s,
  virtualTime: (s) => slots[s].vt ?? 0,
  weight: (s) => slots[s].weight ?? 1,
  priority: (s) => slots[s].priority ?? 0,
  grantedAt: (s) => slots[s].grantedAt ?? 0,
  deadlineAt: (s) => slots[s].deadlineAt ?? Infinity,
  headCostMs: (s) => slots[s].headCostMs ?? 0,
  nowMs: clock.nowMs ?? 0,
  quantumMs: clock.quantumMs ?? 1,
  lagQuanta: clock.lagQuanta ?? 4,
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

const deadlineSuite = suite('deadline policy');

deadlineSuite('gives the token to the least laxity, not the earliest deadline', () => {
  const view = viewOf([
    { state: W, vt: 0, deadlineAt: 100, headCostMs: 10 },
    { state: W, vt: 0, deadlineAt: 120, headCostMs: 50 },
  ]);
  assert.is(deadline.pick(view, -1), 1);
});

deadlineSuite('serves a deadline before a smaller virtual time without one (within the lag bound)', () => {
  const view = viewOf(
    [
      { state: W, vt: 0 },
      { state: W, vt: 2, deadlineAt: 1000 },
    ],
    { lagQuanta: 4 },
  );
  assert.is(deadline.pick(view, -1), 1);
});

deadlineSuite('a head that cannot make its deadline competes as one without a deadline', () => {
  const view = viewOf(
    [
      { state: W, vt: 0, deadlineAt: 105, headCostMs: 10 },
      { state: W, vt: 1, deadlineAt: 200, headCostMs: 10 },
      { state: W, vt: 2 },
    ],
    { nowMs: 100 },
  );
  assert.is(deadline.pick(view, -1), 1);
  assert.is(
    deadline.pick(
      viewOf(
        [
          { state: W, vt: 3, deadlineAt: 105, headCostMs: 10 },
          { state: W, vt: 2 },
        ],
        { nowMs: 100 },
      ),
      -1,
    ),
    1,
  );
});

deadlineSuite('falls back to weighted fair queuing once a candidate lags more than lagQuanta quanta', () => {
  const slots = (vt: number): FakeSlot[] => [
    { state: W, vt: 0, weight: 2 },
    { state: H, vt, deadlineAt: 10 },
  ];
  // Slot 0 lags by (vt − 0) × weight 2 ms of its own service; the bound is 4 quanta of 1 ms.
  assert.is(deadline.pick(viewOf(slots(2)), 1), 1);
  assert.is(deadline.pick(viewOf(slots(2.5)), 1), 0);
  assert.is(deadline.pick(viewOf(slots(0.5), { lagQuanta: 0 }), 1), 0);
});

deadlineSuite('without deadlines it is the weighted policy', () => {
  const view = viewOf([
    { state: W, vt: 3 },
    { state: H, vt: 1 },
    { state: W, vt: 1, grantedAt: 5 },
  ]);
  assert.is(deadline.pick(view, 1), weighted.pick(view, 1));
  assert.is(deadline.pick(view, -1), weighted.pick(view, -1));
  assert.is(deadline.advance(4, 8), 0.5);
});

deadlineSuite('equal laxity goes to the smaller virtual time, then a waiter before the holder', () => {
  assert.is(
    deadline.pick(
      viewOf([
        { state: W, vt: 2, deadlineAt: 50 },
        { state: W, vt: 1, deadlineAt: 50 },
      ]),
      -1,
    ),
    1,
  );
  assert.is(
    deadline.pick(
      viewOf([
        { state: H, vt: 1, deadlineAt: 50 },
        { state: W, vt: 1, deadlineAt: 50 },
      ]),
      0,
    ),
    1,
  );
});

deadlineSuite('a model without deadlines keeps its weighted share against one whose every request is urgent', () => {
  for (const [weights, lagQuanta] of [
    [[1, 1], 4],
    [[1, 3], 4],
    [[2, 1], 0],
    [[1, 1], 16],
  ] as [number[], number][]) {
    // Slot 0 is always urgent (laxity 0); slot 1 never has a deadline. K = 1, every grant one 1 ms quantum.
    const slots: FakeSlot[] = weights.map((weight, i) => ({
      state: W,
      vt: 0,
      weight,
      deadlineAt: i === 0 ? 1 : Infinity,
      headCostMs: 1,
    }));
    const charged = [0, 0];
    let holder = -1;
    let worstLagMs = 0;
    for (let round = 0; round < 20000; round++) {
      const next = deadline.pick(viewOf(slots, { nowMs: 0, lagQuanta }), holder);
      if (holder >= 0 && next !== holder) slots[holder].state = W;
      slots[next].state = H;
      holder = next;
      charged[holder] += 1;
      slots[holder].vt! += deadline.advance(1, weights[holder]);
      const lagMs = (slots[0].vt! - slots[1].vt!) * weights[1];
      worstLagMs = Math.max(worstLagMs, lagMs);
    }
    // The check comes before a grant, so one quantum of the urgent model's service (at the two weights)
    // may come on top of the bound.
    const quantumInProgress = Math.max(1, weights[1] / weights[0]);
    const share = charged[1] / (charged[0] + charged[1]);
    const target = weights[1] / (weights[0] + weights[1]);
    assert.ok(Math.abs(share - target) / target < 0.01, `weights ${weights}: share ${share} vs ${target}`);
    assert.ok(
      worstLagMs <= lagQuanta + quantumInProgress + 1e-9,
      `weights ${weights}: lagged ${worstLagMs} ms, bound ${lagQuanta} quanta`,
    );
  }
});

deadlineSuite.run();
