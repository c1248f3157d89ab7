/**
 * input-copy: what it costs that `infer` leaves the caller's arrays intact. The server copies each input into
 * a buffer of its own unless the caller passes `transfer: true`. Measured two ways: the copy alone (a typed
 * array's slice, per input size), and served latency with and without the copy for zoo models, the two modes
 * interleaved request by request on one server, so both see the same machine.
 */
import { createServer } from '../src/server/server.js';
import type { NamedTensors } from '../src/protocol/tensors.js';
import { startProgress } from './lib/progress.js';
import { benchMeta, pinForBackend, table, writeResults, type BenchOptions } from './lib/report.js';
import { median, percentile, round } from './lib/stats.js';

const sizes = [
  { inputSize: 64, batch: 1 },
  { inputSize: 224, batch: 1 },
  { inputSize: 224, batch: 8 },
  { inputSize: 299, batch: 8 },
];

const models = [
  { zoo: 'mobilenet_v2', inputSize: 64 },
  { zoo: 'mobilenet_v2', inputSize: 224 },
  { zoo: 'resnet50', inputSize: 96 },
];

function copyCostUs(elements: number, reps: number): number {
  const source = new Float32Array(elements).fill(0.5);
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const start = performance.now();
    const copy = source.slice();
    times.push((performance.now() - start) * 1000);
    if (copy.length !== elements) throw new Error('unreachable');
  }
  return median(times);
}

async function servedPair(model: (typeof models)[number], pairs: number) {
  const server = await createServer({
    backend: 'wasm',
    tokens: 1,
    sessions: [{ name: 'm', model: { ...model, seed: 1 } }],
  });
  try {
    const name = server.signature('m').inputs[0].name;
    const request = (): NamedTensors => ({
      [name]: {
        dtype: 'float32',
        shape: [1, model.inputSize, model.inputSize, 3],
        data: new Float32Array(model.inputSize ** 2 * 3).fill(0.5),
      },
    });
    for (let i = 0; i < 3; i++) await server.infer('m', request());
    const copied: number[] = [];
    const moved: number[] = [];
    for (let i = 0; i < pairs; i++) {
      // Alternate which mode goes first, so drift in the machine falls on both alike.
      for (const transfer of i % 2 === 0 ? [false, true] : [true, false]) {
        const input = request();
        const start = performance.now();
        await server.infer('m', input, { transfer });
        (transfer ? moved : copied).push(performance.now() - start);
      }
    }
    return { copied, moved };
  } finally {
    await server.close();
  }
}

export async function run(options: BenchOptions) {
  const { quick } = options;
  pinForBackend(options.backend, '0-1');
  const meta = await benchMeta('input-copy', options);
  const pairs = quick ? 10 : 60;
  const progress = startProgress('input-copy', sizes.length + models.length);
  const copies = sizes.map(({ inputSize, batch }) => {
    const elements = batch * inputSize * inputSize * 3;
    progress.tick();
    return { inputSize, batch, bytes: elements * 4, copyUs: round(copyCostUs(elements, quick ? 50 : 400), 1) };
  });
  const served = [];
  for (const model of models) {
    progress.label(`${model.zoo}@${model.inputSize}`);
    const { copied, moved } = await servedPair(model, pairs);
    progress.tick();
    const copiedP50Ms = median(copied);
    const movedP50Ms = median(moved);
    const copyUs = copyCostUs(model.inputSize ** 2 * 3, 200);
    served.push({
      model: `${model.zoo}@${model.inputSize}`,
      pairs,
      copiedP50Ms: round(copiedP50Ms, 3),
      transferredP50Ms: round(movedP50Ms, 3),
      copiedP90Ms: round(percentile(copied, 90), 3),
      transferredP90Ms: round(percentile(moved, 90), 3),
      copyUs: round(copyUs, 1),
      copyPctOfInference: round((copyUs / 1000 / movedP50Ms) * 100, 3),
    });
  }
  progress.stop();
  const summary = {
    /** The copy of one batch-1 input, as a share of that model's served latency; the largest over the models. */
    copyPctOfInferenceMax: Math.max(...served.map((row) => row.copyPctOfInference)),
    copyUsAt224: copies.find((c) => c.inputSize === 224 && c.batch === 1)!.copyUs,
  };
  const markdown = [
    'The copy alone (median of a Float32Array slice):',
    '',
    table(
      ['inputSize', 'batch', 'bytes', 'copyUs'],
      copies.map((c) => [c.inputSize, c.batch, c.bytes, c.copyUs]),
    ),
    '',
    `Served latency on wasm, one session, the default (copied) and \`transfer: true\` interleaved over ${pairs} pairs of requests:`,
    '',
    table(
      ['model', 'copiedP50Ms', 'transferredP50Ms', 'copiedP90Ms', 'transferredP90Ms', 'copyUs', 'copyPctOfInference'],
      served.map((r) => [
        r.model,
        r.copiedP50Ms,
        r.transferredP50Ms,
        r.copiedP90Ms,
        r.transferredP90Ms,
        r.copyUs,
        r.copyPctOfInference,
      ]),
    ),
    '',
    `Largest copy share of an inference: ${summary.copyPctOfInferenceMax}%.`,
  ].join('\n');
  console.log(`wrote ${writeResults(meta, { summary, copies, served }, markdown)}`);
}
