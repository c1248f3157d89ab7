#!/usr/bin/env node
/** The `olympian` command line: `serve`, `bench <scenario>`, `models`, `profile`, `demo`. */
import { Command, InvalidArgumentError } from 'commander';

const program = new Command('olympian')
  .description('Share one accelerator fairly among concurrent DNN inference sessions')
  .showHelpAfterError()
  .addHelpText(
    'after',
    `
Examples:
  olympian demo --seconds 5                      four zoo models under fair, weighted and priority
  olympian serve --config olympian.json          TF-Serving REST and KServe v2 over HTTP
  olympian models --input-size 96 --kernels      the zoo, parameter counts and kernels per inference
  olympian profile resnet50 --input-size 96      per-kernel costs in profiles/<device>/resnet50@96.json
  olympian bench fairness --quick                a benchmark scenario; results in bench/results/quick/`,
  );

program
  .command('bench')
  .description('run a benchmark scenario; writes bench/results/<scenario>.json and .md')
  .argument('<scenario>', 'which scenario (an unknown name prints the list; README.md describes each)')
  .option('--quick', 'a short run (under a minute); results go to bench/results/quick/', false)
  .option('--backend <backend>', 'wasm (the CPU cores are the device) or webgpu (results in bench/results/webgpu/)', 'wasm')
  .action(async (scenario: string, options: { quick: boolean; backend: string }) => {
    const { scenarios } = await import('../bench/index.js');
    const entry = scenarios[scenario];
    if (!entry) throw new InvalidArgumentError(`unknown scenario ${JSON.stringify(scenario)}; one of: ${Object.keys(scenarios).join(', ')}`);
    const backend = entry.backends.find((name) => name === options.backend);
    if (!backend) throw new InvalidArgumentError(`--backend: scenario ${scenario} runs on ${entry.backends.join(' or ')}, not ${JSON.stringify(options.backend)}`);
    const { run } = await entry.load();
    await run({ quick: options.quick, backend });
  });

program
  .command('models')
  .description('list the model zoo with parameter counts (and kernels per inference with --kernels)')
  .option('--input-size <n>', 'input size to describe the models at', (value) => Number(value))
  .option('--kernels', 'build and run each model once to count its kernels (slower)', false)
  .action(async (options: { inputSize?: number; kernels: boolean }) => {
    const zoo = await import('./models/index.js');
    if (options.kernels) await (await import('./workers/backend.js')).initBackend('wasm');
    const rows = options.kernels ? await zoo.describeZooWithKernels({ inputSize: options.inputSize }) : zoo.describeZoo({ inputSize: options.inputSize });
    for (const row of rows) {
      const kernels = row.kernelsPerInference === undefined ? '' : `  ${row.kernelsPerInference} kernels/inference`;
      const params = row.parameters === null ? `(${row.error})` : row.parameters.toLocaleString('en-US');
      console.log(`${row.name.padEnd(14)} ${params.padStart(13)} parameters at ${row.inputSize}px  ${row.description}${kernels}`);
    }
  });

program
  .command('profile')
  .description('profile a model on this machine: per-kernel cost in launch order, fitted to a + b·batch')
  .argument('<model>', 'a zoo model (resnet50, zoo:resnet50@96) or a model.json path or URL')
  .option('--batch <list>', 'batch sizes to profile', '1,2,4,8')
  .option('--backend <backend>', 'wasm or cpu (wall-clock per kernel), or webgpu (GPU time per kernel from timestamp queries)', 'wasm')
  .option('--runs <n>', 'measured runs per batch size', (value) => Number(value), 5)
  .option('--input-size <n>', 'input size (zoo models)', (value) => Number(value))
  .option('--out <dir>', 'profiles directory', 'profiles')
  .action(async (model: string, options: { batch: string; backend: 'wasm' | 'cpu' | 'webgpu'; runs: number; inputSize?: number; out: string }) => {
    const { runProfileCommand } = await import('./profiler/index.js');
    const { path } = await runProfileCommand({ model, batch: options.batch, backend: options.backend, runs: options.runs, inputSize: options.inputSize, out: options.out });
    console.log(`wrote ${path}`);
  });

program
  .command('serve')
  .description('serve models over HTTP (TF-Serving REST and KServe v2) from a config file; SIGINT/SIGTERM drain')
  .requiredOption('--config <file>', 'olympian.json: models with base paths, device, policy, weights, port, limits')
  .option('--host <host>', 'address to bind (default from the config, else 127.0.0.1)')
  .option('--port <port>', 'port (default from the config)', (value) => Number(value))
  .option('--log-level <level>', 'pino log level', 'info')
  .addHelpText('after', '\nExample:\n  olympian serve --config deploy/olympian.example.json --port 8501')
  .action(async (options: { config: string; host?: string; port?: number; logLevel: string }) => {
    const { runServe } = await import('./serve.js');
    const running = await runServe({ config: options.config, host: options.host, port: options.port, logLevel: options.logLevel });
    await running.closed;
  });

program
  .command('demo')
  .description('four zoo models served at once: fair, then weighted 1:2:3:4, then priority; prints their shares')
  .option('--seconds <n>', 'length of each phase', (value) => Number(value), 12)
  .option('--device <device>', 'auto, gpu or cpu', 'auto')
  .option('--backend <backend>', 'force a backend: wasm, cpu or webgpu (a software adapter too)')
  .option('--synthetic', 'five synthetic sessions instead of models (no TF.js)', false)
  .action(async (options: { seconds: number; device: 'auto' | 'gpu' | 'cpu'; backend?: 'wasm' | 'cpu' | 'webgpu'; synthetic: boolean }) => {
    if (options.synthetic) {
      const { runSyntheticDemo } = await import('./demo-synthetic.js');
      await runSyntheticDemo({ phaseMs: options.seconds * 1000 });
      return;
    }
    const { runDemo } = await import('./demo.js');
    await runDemo({ phaseMs: options.seconds * 1000, device: options.device, backend: options.backend });
  });

program.parseAsync().catch((error: Error & { code?: string }) => {
  console.error(`olympian: ${error.message}`);
  process.exitCode = 1;
});
