/**
 * `olympian serve` in a process of its own, as the HTTP benches measure it: this file is both the starter
 * (`startServeChild`) and, run as a script with a config path, the child, which prints where it listens.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';

export interface ServeChild {
  child: ChildProcess;
  /** The HTTP front, `http://127.0.0.1:<port>`. */
  url: string;
  /** The gRPC front's `host:port`, when asked for. */
  target?: string;
}

/** Starts the child on `configPath` (ephemeral ports); resolves once it listens. */
export function startServeChild(configPath: string, { grpc = false } = {}): Promise<ServeChild> {
  const args = ['--import', 'tsx', fileURLToPath(import.meta.url), configPath, ...(grpc ? ['--grpc'] : [])];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the server did not start in 120 s:\n${output}`)), 120_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk;
      const match = /^URL (\S+)(?: GRPC (\S+))?$/m.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve({ child, url: match[1], ...(match[2] ? { target: match[2] } : {}) });
      }
    });
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the server exited (${code}):\n${output}`));
    });
  });
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { runServe } = await import('../../src/cli/serve.js');
  const grpc = process.argv.includes('--grpc');
  const running = await runServe({
    config: process.argv[2],
    port: 0,
    ...(grpc ? { grpcPort: 0 } : {}),
    logLevel: 'warn',
  });
  console.log(`URL ${running.url}${grpc ? ` GRPC ${running.http.grpc!.target}` : ''}`);
  await running.closed;
}
