/**
 * The bench harness (`npm run bench -- <scenario> [--quick] [--backend wasm|webgpu]`): runs one scenario,
 * which writes bench/results/<scenario>.json and .md. Apart from the `olympian` command: benches measure the
 * product through its public API and carry their own helpers, none of which ship.
 */
import { Command, InvalidArgumentError } from 'commander';
import { scenarios } from './index.js';

const program = new Command('bench')
  .description('run a benchmark scenario; writes bench/results/<scenario>.json and .md')
  .argument('<scenario>', `which scenario: ${Object.keys(scenarios).join(', ')} (README.md describes each)`)
  .option('--quick', 'a short run (under a minute); results go to bench/results/quick/', false)
  .option(
    '--backend <backend>',
    'wasm (the CPU cores are the device) or webgpu (results in bench/results/webgpu/)',
    'wasm',
  )
  .showHelpAfterError()
  .action(async (scenario: string, options: { quick: boolean; backend: string }) => {
    const entry = scenarios[scenario];
    if (!entry)
      throw new InvalidArgumentError(
        `unknown scenario ${JSON.stringify(scenario)}; one of: ${Object.keys(scenarios).join(', ')}`,
      );
    const backend = entry.backends.find((name) => name === options.backend);
    if (!backend)
      throw new InvalidArgumentError(
        `--backend: scenario ${scenario} runs on ${entry.backends.join(' or ')}, not ${JSON.stringify(options.backend)}`,
      );
    const { run } = await entry.load();
    await run({ quick: options.quick, backend });
  });

program.parseAsync().catch((error: Error) => {
  console.error(`bench: ${error.message}`);
  process.exitCode = 1;
});
