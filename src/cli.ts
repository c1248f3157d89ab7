#!/usr/bin/env node
/** The `olympian` command line: `bench <scenario>`, `demo`. */
import { Command, InvalidArgumentError } from 'commander';

const program = new Command('olympian')
  .description('Share one accelerator fairly among concurrent DNN inference sessions')
  .showHelpAfterError();

program
  .command('bench')
  .description('run a benchmark scenario; writes bench/results/<scenario>.json and .md')
  .argument('<scenario>', 'which scenario (see `olympian bench --list`)')
  .option('--quick', 'a short run (under a minute); results go to bench/results/quick/', false)
  .action(async (scenario: string, options: { quick: boolean }) => {
    const { scenarios } = await import('../bench/index.js');
    const load = scenarios[scenario];
    if (!load) throw new InvalidArgumentError(`unknown scenario ${JSON.stringify(scenario)}; one of: ${Object.keys(scenarios).join(', ')}`);
    const { run } = await load();
    await run({ quick: options.quick });
  });

program
  .command('demo')
  .description('five synthetic sessions under the arbiter: fair, then weighted, then priority; prints shares')
  .option('--seconds <n>', 'length of each phase', (value) => Number(value), 3)
  .action(async (options: { seconds: number }) => {
    const { runSyntheticDemo } = await import('./demo.js');
    await runSyntheticDemo({ phaseMs: options.seconds * 1000 });
  });

program.parseAsync().catch((error: Error & { code?: string }) => {
  console.error(`olympian: ${error.message}`);
  process.exitCode = 1;
});
