#!/usr/bin/env node
// The `olympian` command. A published package runs its build (dist/); a clone that has not been built runs
// the TypeScript sources through tsx, which a clone's `npm ci` installs, so `npx olympian …` works in both.
import { existsSync } from 'node:fs';

const built = new URL('../dist/src/cli.js', import.meta.url);
if (existsSync(built)) {
  await import(built.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(new URL('../src/cli.ts', import.meta.url).href);
}
