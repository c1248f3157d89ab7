/**
 * The cross-language check: a client in Python's gRPC implementation (grpcio, C core), whose messages are
 * built from a table of the published protocols' field numbers written apart from olympian's proto/
 * (test/fixtures/grpc/python_client.py), checks health, metadata, typed and raw inference against the REST
 * front's numbers, TF-Serving's calls and a typed error. It runs where a python3 with grpcio and protobuf
 * exists (.ci/run installs Debian's) and prints a skip line elsewhere. The same script, given stubs that
 * protoc generated from the published .proto files, is how the field numbers were checked against the real
 * contract (README, "Serving over gRPC").
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startTest, tinyModel, twoIoModel } from './fixtures/http/helpers.js';

const script = fileURLToPath(new URL('./fixtures/grpc/python_client.py', import.meta.url));

/** Debian's grpcio is for its own python3, which a python3 first on the PATH (pyenv, a venv) may not be. */
function findPython(): string | null {
  for (const python of ['/usr/bin/python3', 'python3']) {
    const probe = spawnSync(python, ['-c', 'import grpc, google.protobuf'], { stdio: 'ignore' });
    if (probe.status === 0) return python;
  }
  return null;
}

const python = suite('gRPC from Python (grpcio)');

python(
  'a Python gRPC client checks health, metadata, typed and raw inference (same numbers as REST), TF-Serving and a typed error',
  async () => {
    const interpreter = findPython();
    if (!interpreter) {
      console.log('  skip: no python3 with grpcio and protobuf (apt-get install python3-grpcio python3-protobuf)');
      return;
    }
    const http = await startTest({ grpcPort: 0, models: [tinyModel('m'), { name: 'two', model: twoIoModel }] });
    try {
      // Asynchronous: the server answering the client runs on this thread's event loop.
      const { spawn } = await import('node:child_process');
      const child = spawn(interpreter, [script, '--grpc', http.grpc!.target, '--http', http.url], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (chunk) => (output += chunk));
      child.stderr.on('data', (chunk) => (output += chunk));
      const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
      assert.is(code, 0, output);
      assert.match(output, /all checks passed/);
    } finally {
      await http.close();
    }
  },
);

python.run();
