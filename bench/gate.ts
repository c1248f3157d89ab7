/**
 * gate: what the kernel gate costs a session that is alone on the device (it never has to yield): predict
 * time gated vs ungated, per zoo model at batch 1, as interleaved pairs of runs, each timed inside its worker.
 * Gated = every kernel wrapped and charged, the token held; ungated = the backend's kernels untouched.
 */
import { DeviceArbiter } from '../src/arbiter/arbiter.js';
import type { NamedTensors } from '../src/protocol/tensors.js';
import type { GateMode } from '../src/protocol/session-messages.js';
import { Session } from '../src/workers/session.js';
import { probeWebgpu } from '../src/device/webgpu.js';
import { startProgress } from './lib/progress.js';
import { benchMeta, table, writeResults, type BenchOptions } from './lib/report.js';
import { sizedFor } from './lib/serving.js';
import { ci95, median, round } from './lib/stats.js';

/** Input sizes at which one batch-1 inference takes roughly 5–200 ms on wasm here. */
export const benchInputSizes: Record<string, number> = {
  alexnet: 127,
  googlenet: 96,
  inception_v3: 107,
  inception_v4: 107,
  mobilenet_v2: 128,
  resnet50: 96,
  resnet152: 64,
  vgg16: 64,
};

interface Row {
  backend: string;
  /** webgpu only: how the gated session hands the token on (alone, it never has to). */
  gateMode: GateMode | null;
  model: string;
  inputSize: number;
  ungatedMs: number;
  gatedMs: number;
  overheadPct: number;
  ciLowPct: number;
  ciHighPct: number;
  kernelsPerInference: number;
  pairs: number;
}

function zeroImage(size: number): NamedTensors {
  return { input: { dtype: 'float32', shape: [1, size, size, 3], data: new Float32Array(size * size * 3).fill(0.5) } };
}

async function timeOnce(session: Session, inputName: string, size: number): Promise<number> {
  const inputs = zeroImage(size);
  await session.infer({ [inputName]: inputs.input });
  return session.stats().lastInferenceMs;
}

async function measureModel(
  model: string,
  inputSize: number,
  pairs: number,
  backend: 'wasm' | 'webgpu' = 'wasm',
  gateMode?: GateMode,
): Promise<Row> {
  const arbiter = new DeviceArbiter({ tokens: 1, quantumMs: 1 });
  const source = { zoo: model, inputSize, seed: 1 };
  const gated = await Session.start(arbiter, {
    name: `${model}-gated`,
    model: source,
    backend,
    ...(gateMode ? { gateMode } : {}),
  });
  const ungated = await Session.start(null, { name: `${model}-ungated`, model: source, backend });
  try {
    const inputName = gated.info.signature.inputs[0].name;
    for (let i = 0; i < 3; i++) {
      await timeOnce(gated, inputName, inputSize);
      await timeOnce(ungated, inputName, inputSize);
    }
    const diffs: number[] = [];
    const gatedMs: number[] = [];
    const ungatedMs: number[] = [];
    for (let pair = 0; pair < pairs; pair++) {
      // Alternate which goes first, so a drift in machine speed does not favour either side.
      const first = pair % 2 === 0 ? gated : ungated;
      const a = await timeOnce(first, inputName, inputSize);
      const b = await timeOnce(first === gated ? ungated : gated, inputName, inputSize);
      const [g, u] = first === gated ? [a, b] : [b, a];
      gatedMs.push(g);
      ungatedMs.push(u);
      diffs.push(g - u);
    }
    const baseline = median(ungatedMs);
    const { mean, low, high } = ci95(diffs);
    return {
      backend,
      gateMode: gateMode ?? null,
      model,
      inputSize,
      ungatedMs: round(baseline, 2),
      gatedMs: round(median(gatedMs), 2),
      overheadPct: round((mean / baseline) * 100, 2),
      ciLowPct: round((low / baseline) * 100, 2),
      ciHighPct: round((high / baseline) * 100, 2),
      kernelsPerInference: gated.info.kernelsPerInference,
      pairs,
    };
  } finally {
    await gated.close();
    await ungated.close();
    arbiter.close();
  }
}

export async function run(options: BenchOptions) {
  const { quick } = options;
  const meta = await benchMeta('gate', options);
  const pairs = quick ? 8 : 30;
  const names = quick ? ['googlenet', 'mobilenet_v2', 'resnet50'] : Object.keys(benchInputSizes);
  // --backend webgpu: webgpu rows only, every model at the device's sizes (ImageNet sizes on a hardware GPU).
  // On wasm, the GPU rows ride along where there is an adapter (on a software one — lavapipe — a functional
  // check only).
  const gpuOnly = options.backend === 'webgpu';
  const models = gpuOnly ? [] : names;
  const adapter = await probeWebgpu().catch(() => null);
  const gpuModels = !adapter
    ? []
    : gpuOnly
      ? sizedFor(
          names.map((name) => ({ name, zoo: name, inputSize: benchInputSizes[name] })),
          meta,
        )
      : [
          { name: 'mobilenet_v2', zoo: 'mobilenet_v2', inputSize: 64 },
          { name: 'googlenet', zoo: 'googlenet', inputSize: 64 },
        ];
  // Strict mode alone renews its quantum without waiting for the GPU, but runs a layers model layer by layer.
  const gpuModes: GateMode[] = ['overlap', 'strict'];
  const progress = startProgress('gate', models.length + gpuModels.length * gpuModes.length);
  const rows: Row[] = [];
  for (const model of models) {
    progress.label(`wasm ${model}`);
    const row = await measureModel(model, benchInputSizes[model], pairs);
    progress.tick();
    progress.log(
      `${model}@${row.inputSize}: ungated ${row.ungatedMs} ms, gated ${row.gatedMs} ms, overhead ${row.overheadPct}% [${row.ciLowPct}, ${row.ciHighPct}] over ${row.kernelsPerInference} kernels`,
    );
    rows.push(row);
  }
  for (const { zoo: model, inputSize } of gpuModels) {
    for (const gateMode of gpuModes) {
      progress.label(`webgpu ${model} ${gateMode}`);
      const row = await measureModel(model, inputSize, quick ? 5 : 15, 'webgpu', gateMode);
      progress.tick();
      progress.log(
        `webgpu ${gateMode} ${model}@${inputSize}: ungated ${row.ungatedMs} ms, gated ${row.gatedMs} ms, overhead ${row.overheadPct}% [${row.ciLowPct}, ${row.ciHighPct}]`,
      );
      rows.push(row);
    }
  }
  progress.stop();
  const met = rows
    .filter((r) => r.backend === options.backend)
    .every((r) => r.overheadPct <= 0.5 || (r.ciLowPct <= 0 && r.ciHighPct >= 0));
  const markdown = [
    `Gate cost for a session alone on the device (${options.backend}, batch 1): ${gpuOnly ? (quick ? 5 : 15) : pairs} interleaved pairs per model, each run timed in its worker (on webgpu: to the end of the readback, so the GPU work is inside).`,
    'overheadPct = mean paired difference / median ungated time; the CI is the 95% interval of the paired difference.',
    '',
    table(
      [
        'backend',
        'gate mode',
        'model',
        'inputSize',
        'ungatedMs',
        'gatedMs',
        'overheadPct',
        'ciLowPct',
        'ciHighPct',
        'kernelsPerInference',
      ],
      rows.map((r) => [
        r.backend,
        r.gateMode ?? '—',
        r.model,
        r.inputSize,
        r.ungatedMs,
        r.gatedMs,
        r.overheadPct,
        r.ciLowPct,
        r.ciHighPct,
        r.kernelsPerInference,
      ]),
    ),
    '',
    adapter
      ? `webgpu rows: adapter ${adapter.vendor} ${adapter.architecture} ${adapter.description}${adapter.software ? ' (software: a functional check, not a speed figure)' : ''}.`
      : 'No WebGPU adapter here: no webgpu rows.',
    `Target (${options.backend} rows): overheadPct ≤ 0.5, or a CI that includes 0, for every model — met: ${met}.`,
  ].join('\n');
  console.log(`wrote ${writeResults(meta, { batch: 1, adapter, rows, targetMet: met }, markdown)}`);
}
