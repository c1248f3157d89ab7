#!/usr/bin/env node
/** The `olympian` command line: `serve`, `models`, `profile`, `demo` (the bench harness is `npm run bench`). */
import { Command } from 'commander';

const program = new Command('olympian')
  .description('Share one accelerator fairly among concurrent DNN inference sessions')
  .showHelpAfterError()
  .addHelpText(
    'after',
    `
Examples:
  olympian demo --seconds 5                      four zoo models under fair, weighted and priority
  olympian serve --config olympian.json          TF-Serving REST and KServe v2 over HTTP (gRPC with --grpc-port)
  olympian models --input-size 96 --kernels      the zoo, parameter counts and kernels per inference
  olympian profile resnet50 --input-size 96      per-kernel costs in profiles/<device>/resnet50@96.json`,
  );

program
  .command('models')
  .description('list the model zoo with parameter counts (and kernels per inference with --kernels)')
  .option('--input-size <n>', 'input size to describe the models at', (value) => Number(value))
  .option('--kernels', 'build and run each model once to count its kernels (slower)', false)
  .action(async (options: { inputSize?: number; kernels: boolean }) => {
    const zoo = await import('./models/index.js');
    if (options.kernels) await (await import('./device/backend.js')).initBackend('wasm');
    const rows = options.kernels
      ? await zoo.describeZooWithKernels({ inputSize: options.inputSize })
      : zoo.describeZoo({ inputSize: options.inputSize });
    for (const row of rows) {
      const kernels = row.kernelsPerInference === undefined ? '' : `  ${row.kernelsPerInference} kernels/inference`;
      const params = row.parameters === null ? `(${row.error})` : row.parameters.toLocaleString('en-US');
      console.log(
        `${row.name.padEnd(14)} ${params.padStart(13)} parameters at ${row.inputSize}px  ${row.description}${kernels}`,
      );
    }
  });

program
  .command('profile')
  .description(
    'profile a model on this machine: per-kernel cost in launch order (ONNX: the whole run), fitted to a + b·batch',
  )
  .argument('<model>', 'a zoo model (resnet50, zoo:resnet50@96), a model.json or .onnx path or URL')
  .option('--batch <list>', 'batch sizes to profile', '1,2,4,8')
  .option(
    '--backend <backend>',
    'wasm or cpu (wall-clock per kernel), or webgpu (GPU time per kernel from timestamp queries)',
    'wasm',
  )
  .option('--runs <n>', 'measured runs per batch size', (value) => Number(value), 5)
  .option('--input-size <n>', 'input size (zoo models)', (value) => Number(value))
  .option('--out <dir>', 'profiles directory', 'profiles')
  .option('--providers <list>', 'ONNX models: onnxruntime execution providers', 'cpu')
  .action(
    async (
      model: string,
      options: {
        batch: string;
        backend: 'wasm' | 'cpu' | 'webgpu';
        runs: number;
        inputSize?: number;
        out: string;
        providers: string;
      },
    ) => {
      const { runProfileCommand, parseBatchSizes } = await import('./profiler/index.js');
      const { isOnnxSource } = await import('./onnx/model-file.js');
      if (isOnnxSource(model)) {
        const { profileOnnx, describeOnnxProfile } = await import('./profiler/onnx-profile.js');
        const batches = parseBatchSizes(options.batch);
        const providers = options.providers.split(',');
        const result = await profileOnnx({
          model,
          batches,
          runs: options.runs,
          warmupRuns: 2,
          out: options.out,
          providers,
        });
        for (const line of describeOnnxProfile(result.profile)) console.log(line);
        console.log(`wrote ${result.path}`);
        return;
      }
      const { path } = await runProfileCommand({
        model,
        batch: options.batch,
        backend: options.backend,
        runs: options.runs,
        inputSize: options.inputSize,
        out: options.out,
      });
      console.log(`wrote ${path}`);
    },
  );

program
  .command('serve')
  .description(
    'serve models over HTTP (TF-Serving REST and KServe v2), and gRPC with a gRPC port, from a config file; SIGINT/SIGTERM drain',
  )
  .requiredOption('--config <file>', 'olympian.json: models with base paths, device, policy, weights, port, limits')
  .option('--host <host>', 'address to bind (default from the config, else 127.0.0.1)')
  .option('--port <port>', 'port (default from the config)', (value) => Number(value))
  .option(
    '--grpc-port <port>',
    'serve gRPC (KServe v2, TF-Serving, health, reflection) on this port too (default from the config: grpcPort; none: no gRPC)',
    (value) => Number(value),
  )
  .option('--log-level <level>', 'pino log level', 'info')
  .addHelpText(
    'after',
    '\nExample:\n  olympian serve --config deploy/olympian.example.json --port 8501 --grpc-port 8500',
  )
  .action(async (options: { config: string; host?: string; port?: number; grpcPort?: number; logLevel: string }) => {
    const { runServe } = await import('./cli/serve.js');
    const running = await runServe({
      config: options.config,
      host: options.host,
      port: options.port,
      grpcPort: options.grpcPort,
      logLevel: options.logLevel,
    });
    await running.closed;
  });

program
  .command('demo')
  .description('four zoo models served at once: fair, then weighted 1:2:3:4, then priority; prints their shares')
  .option('--seconds <n>', 'length of each phase', (value) => Number(value), 12)
  .option('--device <device>', 'auto, gpu or cpu', 'auto')
  .option('--backend <backend>', 'force a backend: wasm, cpu or webgpu (a software adapter too)')
  .action(async (options: { seconds: number; device: 'auto' | 'gpu' | 'cpu'; backend?: 'wasm' | 'cpu' | 'webgpu' }) => {
    const { runDemo } = await import('./cli/demo.js');
    await runDemo({ phaseMs: options.seconds * 1000, device: options.device, backend: options.backend });
  });

program.parseAsync().catch((error: Error & { code?: string }) => {
  console.error(`olympian: ${error.message}`);
  process.exitCode = 1;
});
