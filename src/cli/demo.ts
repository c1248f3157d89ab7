/**
 * The main job (`npm start`): four zoo models of very different sizes served concurrently by one server on
 * this machine's default device, three closed-loop clients each, under `fair`, then `weighted` 1:2:3:4,
 * then `priority`. A live table shows each session's share of the device (the kernel time the arbiter charged
 * it over the phase, measured per kernel on wasm/cpu), throughput and p99 latency; each phase ends with how
 * close every share came to its target.
 */
import { MultiBar, Presets } from 'cli-progress';
import type { PolicyName } from '../arbiter/layout.js';
import type { DeviceRequest } from '../server/config.js';
import type { BackendRequest } from '../protocol/session-messages.js';
import { createServer, type Server } from '../server/server.js';
import type { NamedTensors } from '../protocol/tensors.js';

interface DemoModel {
  name: string;
  zoo: string;
  inputSize: number;
}

const models: DemoModel[] = [
  { name: 'mobilenet_v2', zoo: 'mobilenet_v2', inputSize: 64 },
  { name: 'googlenet', zoo: 'googlenet', inputSize: 64 },
  { name: 'resnet50', zoo: 'resnet50', inputSize: 64 },
  { name: 'alexnet', zoo: 'alexnet', inputSize: 63 },
];

interface Phase {
  title: string;
  policy: PolicyName;
  weights: number[];
  priorities: number[];
}

const phases: Phase[] = [
  { title: 'fair', policy: 'fair', weights: [1, 1, 1, 1], priorities: [0, 0, 0, 0] },
  { title: 'weighted 1:2:3:4', policy: 'weighted', weights: [1, 2, 3, 4], priorities: [0, 0, 0, 0] },
  {
    title: 'priority (googlenet and alexnet first, equal weights)',
    policy: 'priority',
    weights: [1, 1, 1, 1],
    priorities: [0, 1, 0, 1],
  },
];

function targetsOf(phase: Phase): number[] {
  const top = Math.max(...phase.priorities);
  const weights = phase.weights.map((w, i) =>
    phase.policy !== 'priority' || phase.priorities[i] === top ? (phase.policy === 'fair' ? 1 : w) : 0,
  );
  const total = weights.reduce((a, b) => a + b, 0);
  return weights.map((w) => w / total);
}

const pct = (value: number) => `${(value * 100).toFixed(1)}%`;

function imageFor(model: DemoModel): NamedTensors {
  const size = model.inputSize;
  const data = new Float32Array(size * size * 3).map((_, i) => Math.sin(i));
  return { input: { dtype: 'float32', shape: [1, size, size, 3], data } };
}

export interface DemoOptions {
  phaseMs?: number;
  device?: DeviceRequest;
  backend?: BackendRequest;
  clients?: number;
}

export async function runDemo({
  phaseMs = 12_000,
  device = 'auto',
  backend,
  clients = 3,
}: DemoOptions = {}): Promise<void> {
  console.log(
    `olympian demo: ${models.length} zoo models, ${clients} closed-loop clients each, ${phaseMs / 1000} s per policy`,
  );
  const started = performance.now();
  const server = await createServer({
    device,
    backend,
    policy: 'fair',
    quantumMs: 2,
    // One token, as on a GPU: every target below is one the policy can meet. With K tokens a model of one
    // instance gets at most 1/K of the device, so weighted 1:2:3:4 would ask AlexNet for more than it can hold.
    tokens: 1,
    sessions: models.map((m) => ({ name: m.name, model: { zoo: m.zoo, inputSize: m.inputSize, seed: 1 } })),
  });
  try {
    const stats = server.stats();
    console.log(
      `device ${stats.device} → backend ${stats.sessions[0].backend?.name} (${JSON.stringify(stats.sessions[0].backend?.flags)}), K = ${stats.tokens} token(s), quantum ${stats.quantumMs} ms; warm in ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
    for (const row of stats.sessions) {
      console.log(
        `  ${row.name.padEnd(13)} ${row.kernelsPerInference} kernels/inference, ~${row.residentMb.toFixed(1)} MiB`,
      );
    }
    const input = (name: string) => server.signature(name).inputs[0].name;
    const inputs = new Map(models.map((m) => [m.name, imageFor(m)]));
    let stop = false;
    const done = new Map(models.map((m) => [m.name, 0]));
    const loops = models.flatMap((m) =>
      Array.from({ length: clients }, async () => {
        while (!stop) {
          const image = inputs.get(m.name)!.input;
          await server.infer(m.name, { [input(m.name)]: { ...image, data: image.data.slice() } });
          done.set(m.name, done.get(m.name)! + 1);
        }
      }),
    );
    const summary: string[] = [];
    for (const phase of phases) summary.push(await runPhase(server, phase, phaseMs, done));
    stop = true;
    await Promise.all(loops);
    console.log("\nsummary: largest gap between a session's share of device time and its target, per policy");
    for (const line of summary) console.log(`  ${line}`);
  } finally {
    await server.close();
  }
}

async function runPhase(server: Server, phase: Phase, phaseMs: number, done: Map<string, number>): Promise<string> {
  server.setPolicy(phase.policy);
  models.forEach((m, i) => {
    server.setWeight(m.name, phase.weights[i]);
    server.setPriority(m.name, phase.priorities[i]);
  });
  const targets = targetsOf(phase);
  console.log(`\n${phase.title}`);
  await new Promise((resolve) => setTimeout(resolve, 1000)); // let the new policy settle before measuring
  const charged0 = new Map(server.stats().sessions.map((s) => [s.name, s.chargedMs]));
  const done0 = new Map(done);
  const startedAt = performance.now();
  // Live bars on a terminal; a plain table at the end of the phase otherwise (CI logs, pipes).
  const bars = process.stdout.isTTY
    ? new MultiBar(
        {
          format: ' {name} [{bar}] {share} (target {target})  {rate}/s  p99 {p99} ms',
          hideCursor: true,
          clearOnComplete: false,
        },
        Presets.shades_classic,
      )
    : null;
  const payload = (i: number, share: string, rate: string, p99: string) => ({
    name: models[i].name.padEnd(13),
    share,
    target: pct(targets[i]).padStart(6),
    rate,
    p99,
  });
  const rows = models.map((_, i) => bars?.create(100, 0, payload(i, '   -  ', '-', '-')));
  const shares = () => {
    const stats = server.stats().sessions;
    const deltas = models.map((m) => stats.find((s) => s.name === m.name)!.chargedMs - charged0.get(m.name)!);
    const total = deltas.reduce((a, b) => a + b, 0) || 1;
    return { stats, values: deltas.map((d) => d / total) };
  };
  while (performance.now() - startedAt < phaseMs) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    const { stats, values } = shares();
    const seconds = (performance.now() - startedAt) / 1000;
    models.forEach((m, i) => {
      const row = stats.find((s) => s.name === m.name)!;
      const rate = ((done.get(m.name)! - done0.get(m.name)!) / seconds).toFixed(1);
      rows[i]?.update(
        Math.round(values[i] * 100),
        payload(i, pct(values[i]).padStart(6), rate, row.latencyP99Ms.toFixed(0)),
      );
    });
  }
  bars?.stop();
  const { values } = shares();
  const seconds = (performance.now() - startedAt) / 1000;
  if (!bars) {
    models.forEach((m, i) => {
      const rate = ((done.get(m.name)! - done0.get(m.name)!) / seconds).toFixed(1);
      console.log(
        `  ${m.name.padEnd(13)} share ${pct(values[i]).padStart(6)}  target ${pct(targets[i]).padStart(6)}  ${rate}/s`,
      );
    });
  }
  const gap = Math.max(...values.map((v, i) => Math.abs(v - targets[i])));
  return `${phase.title.padEnd(54)} ${(gap * 100).toFixed(2)} points (shares ${values.map(pct).join(' / ')})`;
}
