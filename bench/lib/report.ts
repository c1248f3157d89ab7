/**
 * Every bench writes one JSON (complete in itself: what ran, where, and what it measured) and a markdown
 * rendering of it. Quick runs go to bench/results/quick/ so they never overwrite a committed full run.
 */
import { execFileSync } from 'node:child_process';
import * as tf from '../../src/device/tfjs.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { probeWebgpu } from '../../src/device/webgpu.js';
import { pinProcess } from './pin.js';

/** wasm: the CPU cores are the device. webgpu: the GPU through dawn.node (on lavapipe a functional check only). */
export type BenchBackend = 'wasm' | 'webgpu';

export interface BenchOptions {
  quick: boolean;
  backend: BenchBackend;
}

export type AdapterInfo = Awaited<ReturnType<typeof probeWebgpu>>;

export interface BenchMeta {
  scenario: string;
  quick: boolean;
  backend: BenchBackend;
  /** webgpu: the adapter the sessions ran on; a software one (lavapipe) makes every figure functional only. */
  adapter: AdapterInfo | null;
  date: string;
  commit: string;
  node: string;
  tfjs: string;
  machine: { cpu: string; cores: number; usableCores: number; memoryGiB: number };
  command: string;
  /** Another process on the same cores skews every figure: the 1-minute load average at start and at end. */
  loadAverage1m: { start: number; end?: number };
}

const repoRoot = fileURLToPath(new URL('../../', import.meta.url)).replace(/dist\/$/, '');

function gitCommit(): string {
  // A bundled copy on a machine without git (bench/device/) is told its commit when it is packed.
  if (process.env.OLYMPIAN_COMMIT) return process.env.OLYMPIAN_COMMIT;
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: repoRoot }).length > 0;
    return head.toString().trim() + (dirty ? '-dirty' : '');
  } catch {
    return 'unknown';
  }
}

export async function benchMeta(scenario: string, { quick, backend }: BenchOptions): Promise<BenchMeta> {
  return {
    scenario,
    quick,
    backend,
    adapter: backend === 'webgpu' ? await probeWebgpu() : null,
    date: new Date().toISOString(),
    commit: gitCommit(),
    node: process.version,
    tfjs: tf.version_core,
    machine: {
      cpu: cpus()[0]?.model ?? 'unknown',
      cores: cpus().length,
      usableCores: availableParallelism(),
      memoryGiB: Math.round(totalmem() / 2 ** 30),
    },
    command: `npm run bench -- ${scenario}${quick ? ' --quick' : ''}${backend === 'wasm' ? '' : ` --backend ${backend}`}`,
    loadAverage1m: { start: Number(loadavg()[0].toFixed(2)) },
  };
}

/** bench/results/[quick/][webgpu/]: where a scenario run with these options writes. */
export const resultsDir = ({ quick, backend }: Pick<BenchOptions, 'quick' | 'backend'>) =>
  join(repoRoot, 'bench/results', quick ? 'quick' : '', backend === 'wasm' ? '' : backend);

/** Writes `<scenario>.json` and `<scenario>.md`; returns the JSON path. */
export function writeResults(meta: BenchMeta, result: object, markdown: string): string {
  const dir = resultsDir(meta);
  mkdirSync(dir, { recursive: true });
  const jsonPath = join(dir, `${meta.scenario}.json`);
  meta.loadAverage1m.end = Number(loadavg()[0].toFixed(2));
  writeFileSync(jsonPath, JSON.stringify({ meta, ...result }, null, 2) + '\n');
  const adapter = meta.adapter
    ? ` · adapter ${adapterName(meta.adapter)}${meta.adapter.software ? ' (software: a functional check, not a speed figure)' : ''}`
    : '';
  const load = `load average ${meta.loadAverage1m.start} → ${meta.loadAverage1m.end}`;
  const header = `# ${meta.scenario}\n\n${meta.date} · commit ${meta.commit} · ${meta.machine.cpu} · ${meta.machine.usableCores}/${meta.machine.cores} cores · Node ${meta.node} · ${meta.backend}${adapter} · ${load}\n\nReproduce: \`${meta.command}\`\n\n`;
  writeFileSync(join(dir, `${meta.scenario}.md`), header + markdown + '\n');
  return jsonPath;
}

export const adapterName = (adapter: AdapterInfo) =>
  [adapter.vendor, adapter.architecture, adapter.description].filter(Boolean).join(' / ');

/** Pins this process (and the workers it starts) to `cpus` on wasm, where the cores are the device; on webgpu the GPU is, so nothing is pinned. */
export function pinForBackend(backend: BenchBackend, cpus: string): void {
  if (backend === 'wasm') pinProcess(cpus);
}

/** A markdown table from rows of plain values. */
export function table(columns: string[], rows: Array<Array<string | number | boolean>>): string {
  const line = (cells: Array<string | number | boolean>) => `| ${cells.map(String).join(' | ')} |`;
  return [line(columns), line(columns.map(() => '---')), ...rows.map(line)].join('\n');
}
