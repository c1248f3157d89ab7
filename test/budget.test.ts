/**
 * Device-time budgets: the bucket's arithmetic on an injected clock, the rules a budget is checked by, and a
 * model over its budget refused on arrival (QUOTA_EXCEEDED with retryAfterMs) over the embedding API and RPC
 * while another model on the same server is served. A budget of 1e-6 ms/s with no burst makes the refusal
 * deterministic: one request puts the model in debt, and the refill would take years.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { validateServeConfig } from '../src/http/config-file.js';
import { connectClient } from '../src/protocol/client.js';
import { ErrorCode, OlympianError } from '../src/protocol/errors.js';
import { BudgetBucket, validateBudget } from '../src/server/budget.js';
import { resolveConfig } from '../src/server/config.js';
import { createServer, type Server } from '../src/server/server.js';
import { image, rejectsWith, tinySession } from './helpers-server.js';

const tight = { deviceMsPerSec: 1e-6, burstMs: 0 };

const bucket = suite('budget bucket (injected clock)');

bucket('starts full and refills at deviceMsPerSec up to burstMs', () => {
  const b = new BudgetBucket({ deviceMsPerSec: 100, burstMs: 50 }, 1000, 7);
  assert.is(b.update(1000, 7), 50);
  assert.is(b.update(1000, 47), 10, 'charged 40 ms');
  assert.is(b.update(1200, 47), 30, '200 ms at 100 ms/s refill 20 ms');
  assert.is(b.update(5000, 47), 50, 'never above burstMs');
  assert.is(b.retryAfterMs, 0);
});

bucket('goes into debt and says how long the refill takes to pay it back', () => {
  const b = new BudgetBucket({ deviceMsPerSec: 10, burstMs: 5 }, 0, 0);
  assert.is(b.update(0, 25), -20);
  assert.is(b.retryAfterMs, 2000, '20 ms of debt at 10 ms/s');
  assert.is(b.update(1000, 25), -10);
  assert.is(b.retryAfterMs, 1000);
  assert.is(b.update(2000, 25), 0, 'out of debt: admitted again');
  assert.is(b.retryAfterMs, 0);
});

bucket('nets refill and charges over an interval: a model at exactly its rate keeps its balance', () => {
  const b = new BudgetBucket({ deviceMsPerSec: 100, burstMs: 10 }, 0, 0);
  for (let t = 100; t <= 1000; t += 100) assert.is(b.update(t, t / 10), 10);
});

bucket('a burst of zero admits while the balance is exactly zero, and refuses in debt', () => {
  const b = new BudgetBucket({ deviceMsPerSec: 1, burstMs: 0 }, 0, 100);
  assert.is(b.update(10, 100), 0);
  assert.is(b.retryAfterMs, 0);
  b.update(10, 100.5);
  assert.is(b.retryAfterMs, 500);
});

bucket('a vanishing rate gives a long but finite retry-after', () => {
  const b = new BudgetBucket({ deviceMsPerSec: 1e-300, burstMs: 0 }, 0, 0);
  b.update(0, 1);
  assert.is(b.retryAfterMs, Number.MAX_SAFE_INTEGER);
});

bucket('counts only what is charged after the budget was set; a clock or charge going back refills nothing', () => {
  const b = new BudgetBucket({ deviceMsPerSec: 1000, burstMs: 10 }, 100, 1e6);
  assert.is(b.update(100, 1e6 + 4), 6);
  assert.is(b.update(50, 1e6 + 4), 6);
  assert.is(b.update(100, 1e6), 6);
});

bucket.run();

const rules = suite('budget rules: errors name the field');

rules('validateBudget: rate > 0 and ≤ 1000 × tokens, burst ≥ 0 and finite, no other keys', () => {
  assert.equal(validateBudget({ deviceMsPerSec: 250, burstMs: 0 }, 'budget', 1), { deviceMsPerSec: 250, burstMs: 0 });
  const fieldOf = (value: unknown, tokens?: number) => {
    try {
      validateBudget(value, 'b', tokens);
    } catch (error) {
      assert.is((error as OlympianError).code, ErrorCode.INVALID_CONFIG);
      return (error as OlympianError).field;
    }
    return 'accepted';
  };
  assert.is(fieldOf(null), 'b');
  assert.is(fieldOf(5), 'b');
  assert.is(fieldOf({ deviceMsPerSec: 0, burstMs: 1 }), 'b.deviceMsPerSec');
  assert.is(fieldOf({ deviceMsPerSec: Number.NaN, burstMs: 1 }), 'b.deviceMsPerSec');
  assert.is(fieldOf({ deviceMsPerSec: Number.POSITIVE_INFINITY, burstMs: 1 }), 'b.deviceMsPerSec');
  assert.is(fieldOf({ deviceMsPerSec: 2001, burstMs: 1 }, 2), 'b.deviceMsPerSec');
  assert.is(fieldOf({ deviceMsPerSec: 2000, burstMs: 1 }, 2), 'accepted');
  assert.is(fieldOf({ deviceMsPerSec: 10 }), 'b.burstMs');
  assert.is(fieldOf({ deviceMsPerSec: 10, burstMs: -1 }), 'b.burstMs');
  assert.is(fieldOf({ deviceMsPerSec: 10, burstMs: Number.POSITIVE_INFINITY }), 'b.burstMs');
  assert.is(fieldOf({ deviceMsPerSec: 10, burstMs: 1, burst: 1 }), 'b.burst');
});

rules('a session config and olympian.json name the budget key at fault', async () => {
  const sessions = [
    tinySession('a'),
    tinySession('b'),
    tinySession('c', {}, { budget: { deviceMsPerSec: 5 } as never }),
  ];
  try {
    resolveConfig({ backend: 'wasm', tokens: 1, sessions });
    assert.unreachable('accepted');
  } catch (error) {
    assert.is((error as OlympianError).code, ErrorCode.INVALID_CONFIG);
    assert.is((error as OlympianError).field, 'sessions[2].budget.burstMs');
  }
  const tooFast = [tinySession('a', {}, { budget: { deviceMsPerSec: 1500, burstMs: 0 } })];
  assert.throws(
    () => resolveConfig({ backend: 'wasm', tokens: 1, sessions: tooFast }),
    /sessions\[0\]\.budget\.deviceMsPerSec/,
  );
  const file = (budget: unknown) => ({ tokens: 1, models: [{ name: 'm', model: 'zoo:mobilenet_v2', budget }] });
  await rejectsWith(
    validateServeConfig(file({ deviceMsPerSec: -1, burstMs: 1 }), '/'),
    ErrorCode.INVALID_CONFIG,
    'models[0].budget.deviceMsPerSec',
  );
  await rejectsWith(
    validateServeConfig(file({ deviceMsPerSec: 1e4, burstMs: 1 }), '/'),
    ErrorCode.INVALID_CONFIG,
    'models[0].budget.deviceMsPerSec',
  );
  const ok = await validateServeConfig(file({ deviceMsPerSec: 100, burstMs: 20 }), '/');
  assert.equal(ok.models[0].budget, { deviceMsPerSec: 100, burstMs: 20 });
});

rules.run();

const refused = suite('a model over its budget is refused; the others are served');
let server: Server;
refused.before(async () => {
  server = await createServer({
    backend: 'wasm',
    tokens: 1,
    sessions: [tinySession('capped', {}, { budget: tight }), tinySession('free', { seed: 2 })],
  });
});
refused.after(() => server.close());

refused('one request puts the capped model in debt; the next is QUOTA_EXCEEDED with retryAfterMs', async () => {
  await server.infer('capped', image());
  const error = await rejectsWith(server.infer('capped', image()), ErrorCode.QUOTA_EXCEEDED, 'budget');
  assert.is(error.session, 'capped');
  const row = server.stats().sessions.find((s) => s.name === 'capped')!;
  assert.equal(row.budget, tight);
  assert.ok(row.budgetBalanceMs! < 0, `in debt: ${row.budgetBalanceMs}`);
  // The refill over the few ms since is 1e-9 ms: the debt is what it was at refusal.
  const expectedMs = (-row.budgetBalanceMs! * 1000) / tight.deviceMsPerSec;
  assert.ok(Math.abs(error.retryAfterMs! - expectedMs) <= expectedMs * 1e-3, `${error.retryAfterMs} vs ${expectedMs}`);
  assert.is(row.refusedOverBudget, 1);
  assert.is(row.inferences, 1, 'the refused request never reached the session');
  assert.is((await server.infer('free', image())).logits.shape[0], 1);
  assert.is(server.stats().sessions.find((s) => s.name === 'free')!.budget, null);
});

refused('over RPC: the error arrives with its code and retryAfterMs', async () => {
  const client = connectClient(server.connect());
  try {
    const error = await rejectsWith(client.infer('capped', image()), ErrorCode.QUOTA_EXCEEDED, 'budget');
    assert.ok(error.retryAfterMs! > 0);
    assert.is((await client.infer('free', image())).logits.shape[0], 1);
  } finally {
    client.close();
  }
});

refused(
  'setBudget takes effect at once; a new budget starts full; null lifts it; a bad one is INVALID_ARGUMENT',
  async () => {
    server.setBudget('capped', { deviceMsPerSec: 1000, burstMs: 1000 });
    await server.infer('capped', image());
    server.setBudget('capped', tight);
    await server.infer('capped', image());
    await rejectsWith(server.infer('capped', image()), ErrorCode.QUOTA_EXCEEDED);
    server.setBudget('capped', null);
    await server.infer('capped', image());
    const row = server.stats().sessions.find((s) => s.name === 'capped')!;
    assert.equal([row.budget, row.budgetBalanceMs], [null, null]);
    try {
      server.setBudget('capped', { deviceMsPerSec: 10, burstMs: -1 });
      assert.unreachable('accepted');
    } catch (error) {
      assert.instance(error, OlympianError);
      assert.equal(
        [(error as OlympianError).code, (error as OlympianError).field],
        ['INVALID_ARGUMENT', 'budget.burstMs'],
      );
    }
    assert.throws(
      () => server.setBudget('nope', null),
      (e: OlympianError) => e.code === ErrorCode.NOT_FOUND,
    );
    await server.infer('capped', image());
  },
);

refused.run();

const ungated = suite('budgets without the arbiter');

ungated('need the arbiter, which charges device time: refused in the configuration and by setBudget', async () => {
  const capped = tinySession('capped', {}, { budget: tight });
  await rejectsWith(
    createServer({ arbiter: false, backend: 'wasm', sessions: [tinySession('free'), capped] }),
    ErrorCode.INVALID_CONFIG,
    'sessions[1].budget',
  );
  const bare = await createServer({ arbiter: false, backend: 'wasm', sessions: [tinySession('free')] });
  try {
    assert.throws(
      () => bare.setBudget('free', tight),
      (e: OlympianError) => e.field === 'budget',
    );
    bare.setBudget('free', null);
    await rejectsWith(bare.addSession(capped, 'models[1]'), ErrorCode.INVALID_CONFIG, 'models[1].budget');
  } finally {
    await bare.close();
  }
});

ungated.run();
