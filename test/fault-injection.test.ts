import { readdirSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ErrorCode } from '../src/protocol/errors.js';
import { createServer } from '../src/server/server.js';
import { image, sleep, tinyModule, tinySession } from './helpers-server.js';

const faults = suite('fault injection: session threads killed while holding the token');

faults('20 kills in a row: every request is answered exactly once, other sessions all complete', async () => {
  const server = await createServer({
    backend: 'wasm',
    tokens: 1,
    sessions: [
      { name: 'victim', model: { module: tinyModule, exportName: 'createCrashyModel' } },
      tinySession('bystander', { inputSize: 32 }),
    ],
  });
  const answers = new Map<number, string[]>();
  const answer = (id: number, outcome: string) => answers.set(id, [...(answers.get(id) ?? []), outcome]);
  let next = 0;
  const track = (promise: Promise<unknown>) => {
    const id = next++;
    answers.set(id, []);
    return promise.then(
      () => answer(id, 'ok'),
      (error: { code?: string }) => answer(id, error.code ?? 'untyped'),
    );
  };
  let stop = false;
  const bystanderDone: number[] = [];
  const bystander = Promise.all(
    [0, 1].map(async () => {
      while (!stop) {
        const before = next;
        await track(server.infer('bystander', image(32)));
        bystanderDone.push(before);
      }
    }),
  );
  const openFiles = () => readdirSync('/proc/self/fd').length;
  while (server.stats().sessions[0].state !== 'ready') await sleep(5);
  const filesBefore = openFiles();
  try {
    for (let kill = 0; kill < 20; kill++) {
      while (server.stats().sessions[0].state !== 'ready') await sleep(5);
      // The 666 request makes the victim's thread exit inside predict, with the device token held.
      const doomed = track(
        server.infer(
          'victim',
          image(16, () => 666),
        ),
      );
      const behind = [track(server.infer('victim', image())), track(server.infer('victim', image()))];
      await Promise.all([doomed, ...behind]);
    }
    while (server.stats().sessions[0].state !== 'ready') await sleep(5);
    await track(server.infer('victim', image()));
  } finally {
    stop = true;
    await bystander;
  }
  const outcomes = [...answers.values()];
  assert.ok(
    outcomes.every((list) => list.length === 1),
    'every request answered exactly once',
  );
  const flat = outcomes.map((list) => list[0]);
  assert.ok(
    flat.every((o) => o === 'ok' || o === ErrorCode.SESSION_CRASHED),
    `outcomes: ${[...new Set(flat)]}`,
  );
  const stats = server.stats();
  const victim = stats.sessions.find((s) => s.name === 'victim')!;
  const bystanderStats = stats.sessions.find((s) => s.name === 'bystander')!;
  assert.is(victim.restarts, 20);
  assert.ok(victim.errors.SESSION_CRASHED! >= 20);
  assert.is(bystanderStats.restarts, 0);
  assert.is(bystanderStats.errors.SESSION_CRASHED, undefined, 'the bystander lost nothing');
  assert.ok(bystanderDone.length > 0);
  assert.is(flat[flat.length - 1], 'ok', 'the victim serves again after the last restart');
  // Each thread opens files of its own (its CPU clock): none may outlive it.
  assert.ok(openFiles() < filesBefore + 10, `open files ${filesBefore} → ${openFiles()} over 20 kills`);
  await server.close();
});

faults.run();
