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
  .description('four zoo models served at once: fair, then weighted 1:2:3:4, then priority; prints their shares')
  .option('--seconds <n>', 'length of each phase', (value) => Number(value), 12)
  .option('--device <device>', 'auto, gpu or cpu', 'auto')
  .option('--synthetic', 'five synthetic sessions instead of models (no TF.js)', false)
  .action(async (options: { seconds: number; device: 'auto' | 'gpu' | 'cpu'; synthetic: boolean }) => {
    if (options.synthetic) {
      const { runSyntheticDemo } = await import('./demo-synthetic.js');
      await runSyntheticDemo({ phaseMs: options.seconds * 1000 });
      return;
    }
    const { runDemo } = await import('./demo.js');
    await runDemo({ phaseMs: options.seconds * 1000, device: options.device });
  });

program.parseAsync().catch((error: Error & { code?: string }) => {
  console.error(`olympian: ${error.message}`);
  process.exitCode = 1;
});
