/**
 * grpc: what each wire costs for the same model and the same tensors. `olympian serve` runs in a child
 * process with gRPC on (so the clients do not share its event loop) and one zoo model; closed-loop clients
 * send KServe v2 inference three ways — gRPC with raw_input_contents, REST with the binary tensor extension,
 * REST with JSON — at batch 1 and 8. The six combinations run interleaved in one run: each round gives
 * every combination a slice of the same length, in an order rotated round by round, so drift in the machine
 * (a busy neighbour, a warming JIT) falls on all of them alike. Reported per combination: requests/s over its
 * slices, and client-side p50/p99 latency; and that all three wires answered the same numbers.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as loader from '@grpc/proto-loader';
import { loaderOptions, protoDir, protoFiles } from '../src/grpc/protos.js';
import { startProgress } from './lib/progress.js';
import { startServeChild } from './lib/serve-child.js';
import { benchMeta, table, writeResults, type BenchOptions } from './lib/report.js';
import { percentile, round } from './lib/stats.js';

const model = { name: 'mobilenet64', zoo: 'mobilenet_v2', inputSize: 64 };
const batches = [1, 8] as const;
const wires = ['grpcRaw', 'restBinary', 'restJson'] as const;
type Wire = (typeof wires)[number];
const wireLabel: Record<Wire, string> = { grpcRaw: 'gRPC raw', restBinary: 'REST binary', restJson: 'REST JSON' };
/** Requests in flight at once per combination (closed loop). */
const kClients = 4;

interface Combination {
  wire: Wire;
  batch: number;
  latenciesUs: number[];
  measuredMs: number;
  errors: number;
}

function images(batch: number): Float32Array {
  const data = new Float32Array(batch * model.inputSize * model.inputSize * 3);
  for (let i = 0; i < data.length; i++) data[i] = Math.sin(i);
  return data;
}

/** One request of each wire for a batch; each resolves with the first output's values. */
function senders(url: string, client: grpc.Client, batch: number): Record<Wire, () => Promise<Float32Array>> {
  const data = images(batch);
  const shape = [batch, model.inputSize, model.inputSize, 3];
  const bytes = Buffer.from(data.buffer);
  const grpcRequest = {
    model_name: model.name,
    inputs: [{ name: 'input', datatype: 'FP32', shape }],
    raw_input_contents: [bytes],
  };
  const header = Buffer.from(
    JSON.stringify({
      inputs: [{ name: 'input', datatype: 'FP32', shape, parameters: { binary_data_size: bytes.byteLength } }],
      parameters: { binary_data_output: true },
    }),
  );
  const binaryBody = Buffer.concat([header, bytes]);
  const jsonBody = JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape, data: Array.from(data) }] });
  const inferUrl = `${url}/v2/models/${model.name}/infer`;
  const asF32 = (b: Buffer) => new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
  return {
    grpcRaw: () =>
      new Promise((resolve, reject) =>
        (client as unknown as { ModelInfer: Function }).ModelInfer(
          grpcRequest,
          (error: Error | null, answer: { raw_output_contents: Buffer[] }) =>
            error ? reject(error) : resolve(asF32(answer.raw_output_contents[0])),
        ),
      ),
    restBinary: async () => {
      const response = await fetch(inferUrl, {
        method: 'POST',
        headers: { 'inference-header-content-length': String(header.byteLength) },
        body: binaryBody,
      });
      if (response.status !== 200) throw new Error(`REST binary: ${response.status} ${await response.text()}`);
      const body = Buffer.from(await response.arrayBuffer());
      return asF32(body.subarray(Number(response.headers.get('inference-header-content-length'))));
    },
    restJson: async () => {
      const response = await fetch(inferUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: jsonBody,
      });
      if (response.status !== 200) throw new Error(`REST JSON: ${response.status} ${await response.text()}`);
      const answer = (await response.json()) as { outputs: Array<{ data: number[] }> };
      return Float32Array.from(answer.outputs[0].data);
    },
  };
}

/** kClients closed-loop clients for `sliceMs`; latencies recorded only when `record`. */
async function slice(
  send: () => Promise<unknown>,
  sliceMs: number,
  combination: Combination,
  record: boolean,
): Promise<void> {
  const endAt = performance.now() + sliceMs;
  const startedAt = performance.now();
  await Promise.all(
    Array.from({ length: kClients }, async () => {
      while (performance.now() < endAt) {
        const started = process.hrtime.bigint();
        try {
          await send();
          if (record) combination.latenciesUs.push(Number(process.hrtime.bigint() - started) / 1000);
        } catch {
          if (record) combination.errors++;
        }
      }
    }),
  );
  if (record) combination.measuredMs += performance.now() - startedAt;
}

export async function run(options: BenchOptions): Promise<void> {
  const { quick } = options;
  const meta = await benchMeta('grpc', options);
  const rounds = quick ? 2 : 6;
  const sliceMs = quick ? 700 : 2500;
  const dir = mkdtempSync(join(tmpdir(), 'olympian-bench-grpc-'));
  const configPath = join(dir, 'olympian.json');
  writeFileSync(
    configPath,
    JSON.stringify({
      backend: 'wasm',
      tokens: 1,
      models: [{ name: model.name, model: { zoo: model.zoo, inputSize: model.inputSize, seed: 1 }, maxQueue: 64 }],
    }),
  );
  console.log(`grpc: starting olympian serve (HTTP and gRPC) with zoo:${model.zoo}@${model.inputSize} ...`);
  const { child, url, target } = await startServeChild(configPath, { grpc: true });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const definition = loader.loadSync(protoFiles, { ...loaderOptions, includeDirs: [protoDir] });
  const Inference = (grpc.loadPackageDefinition(definition) as any).inference.GRPCInferenceService;
  const client: grpc.Client = new Inference(target, grpc.credentials.createInsecure(), {
    'grpc.max_receive_message_length': -1,
    'grpc.max_send_message_length': -1,
  });
  try {
    const combinations: Combination[] = batches.flatMap((batch) =>
      wires.map((wire) => ({ wire, batch, latenciesUs: [], measuredMs: 0, errors: 0 })),
    );
    const send = new Map(batches.map((batch) => [batch, senders(url, client, batch)]));
    // The three wires must answer the same numbers before their speeds mean anything.
    const agree = await Promise.all(
      batches.map(async (batch) => {
        const outs = await Promise.all(wires.map((wire) => send.get(batch)![wire]()));
        return outs.every((out) => out.length === outs[0].length && out.every((v, i) => v === outs[0][i]));
      }),
    );
    const progress = startProgress('grpc', rounds + 1, 'warm-up');
    for (const combination of combinations)
      await slice(send.get(combination.batch as 1 | 8)![combination.wire], sliceMs / 2, combination, false);
    for (let r = 0; r < rounds; r++) {
      progress.tick(`round ${r + 1} of ${rounds}`);
      const order = combinations.map((_, i) => combinations[(i + r) % combinations.length]);
      for (const combination of order)
        await slice(send.get(combination.batch as 1 | 8)![combination.wire], sliceMs, combination, true);
    }
    progress.tick();
    progress.stop();

    const rows = combinations.map((c) => ({
      wire: c.wire,
      batch: c.batch,
      requests: c.latenciesUs.length,
      throughputRps: round((c.latenciesUs.length / c.measuredMs) * 1000, 1),
      itemsPerS: round(((c.latenciesUs.length * c.batch) / c.measuredMs) * 1000, 1),
      p50Us: Math.round(percentile(c.latenciesUs, 50)),
      p99Us: Math.round(percentile(c.latenciesUs, 99)),
      errors: c.errors,
    }));
    const find = (wire: Wire, batch: number) => rows.find((r) => r.wire === wire && r.batch === batch)!;
    const summary: Record<string, number> = {};
    for (const r of rows) {
      summary[`${r.wire}RpsBatch${r.batch}`] = r.throughputRps;
      summary[`${r.wire}P50UsBatch${r.batch}`] = r.p50Us;
      summary[`${r.wire}P99UsBatch${r.batch}`] = r.p99Us;
    }
    for (const batch of batches) {
      summary[`grpcRawOverRestBinaryRpsBatch${batch}`] = round(
        find('grpcRaw', batch).throughputRps / find('restBinary', batch).throughputRps,
        3,
      );
      summary[`grpcRawOverRestJsonRpsBatch${batch}`] = round(
        find('grpcRaw', batch).throughputRps / find('restJson', batch).throughputRps,
        3,
      );
    }
    summary.errors = rows.reduce((a, r) => a + r.errors, 0);
    summary.outputsAgree = agree.every(Boolean) ? 1 : 0;
    const result = {
      summary,
      config: {
        model: `zoo:${model.zoo}@${model.inputSize}`,
        backend: 'wasm',
        tokens: 1,
        clients: kClients,
        rounds,
        sliceS: sliceMs / 1000,
        protocol: 'KServe v2 ModelInfer (gRPC raw_input_contents; REST binary tensor extension; REST JSON)',
      },
      rows,
    };
    const markdown = [
      `${kClients} closed-loop clients per combination over loopback; \`olympian serve\` in a child process (wasm, K = 1) with zoo:${model.zoo}@${model.inputSize};`,
      `${rounds} rounds of ${sliceMs / 1000} s slices, the six combinations interleaved in a rotating order. Latencies are the client's, request to decoded answer.`,
      `The three wires answered the same numbers: ${agree.every(Boolean) ? 'yes' : 'NO'}.`,
      '',
      table(
        ['wire', 'batch', 'requests', 'req/s', 'items/s', 'p50 µs', 'p99 µs', 'errors'],
        rows.map((r) => [
          wireLabel[r.wire],
          r.batch,
          r.requests,
          r.throughputRps,
          r.itemsPerS,
          r.p50Us,
          r.p99Us,
          r.errors,
        ]),
      ),
      '',
      ...batches.map(
        (b) =>
          `Batch ${b}: gRPC raw / REST binary = ${summary[`grpcRawOverRestBinaryRpsBatch${b}`]}× requests/s; gRPC raw / REST JSON = ${summary[`grpcRawOverRestJsonRpsBatch${b}`]}×.`,
      ),
    ].join('\n');
    const path = writeResults(meta, result, markdown);
    console.log(markdown);
    console.log(`\nwrote ${path}`);
    if (summary.errors > 0 || !summary.outputsAgree) process.exitCode = 1;
  } finally {
    client.close();
    child.kill('SIGTERM');
    const code = await Promise.race([exited, new Promise((resolve) => setTimeout(() => resolve('timeout'), 30_000))]);
    if (code === 'timeout') child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}
