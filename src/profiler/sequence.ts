/**
 * Kernel sequences: what a model launches, in order, at one batch size. A launch is the kernel's name and its
 * input shapes; the canonical text of a sequence is one `Name[d0,d1,...][...]` line per launch, and its hash
 * (sha1 of that text) is how a profile says which sequence its costs belong to.
 *
 * A profile covers a few batch sizes but must also check batch sizes it never saw, so each position keeps a
 * shape *template*: a dim that is the same at every profiled batch is a number, one that is k times the batch
 * everywhere is `kN` (`N` when k = 1), anything else is `?` (matches any size); `[?]` is an input of any
 * shape, `[*]` any inputs at all (the kernel took a different number of inputs at different batch sizes).
 */
import { createHash } from 'node:crypto';
import type { KernelParams } from '../device/kernel-hook.js';

export interface KernelLaunch {
  name: string;
  /** One shape per input, in the kernel's own input order; null where an optional input is absent. */
  shapes: (readonly number[] | null)[];
}

/** Reads a launch off the params the kernel gate hands its hook. Only for recording: it allocates. */
export function launchFromParams(name: string, params: KernelParams): KernelLaunch {
  const shapes: (number[] | null)[] = [];
  for (const info of Object.values(params.inputs)) shapes.push(info ? info.shape.slice() : null);
  return { name, shapes };
}

const shapeText = (shape: readonly (number | string)[] | null) => (shape === null ? '[-]' : `[${shape.join(',')}]`);

/** The canonical line of one launch: `Conv2D[1,16,16,3][3,3,3,8]`. */
export const launchKey = (launch: KernelLaunch) => launch.name + launch.shapes.map(shapeText).join('');

export function sequenceHash(launches: readonly KernelLaunch[]): string {
  return createHash('sha1').update(launches.map(launchKey).join('\n')).digest('hex');
}

/** Whether two sequences have the same kernel names in the same order (shapes aside). */
export function sameNames(a: readonly KernelLaunch[], b: readonly KernelLaunch[]): boolean {
  return a.length === b.length && a.every((launch, i) => launch.name === b[i].name);
}

/**
 * The template of one position from its launches at several batch sizes (same name at every batch).
 * Needs at least two distinct batch sizes to tell a batch dim from a constant one.
 */
export function shapeTemplate(batches: readonly number[], launches: readonly KernelLaunch[]): string {
  const first = launches[0];
  const inputs = first.shapes.map((shape, input) => {
    const all = launches.map((l) => l.shapes[input] ?? null);
    if (shape === null) return all.every((s) => s === null) ? '[-]' : '[?]';
    if (!all.every((s) => s !== null && s.length === shape.length)) return '[?]';
    const dims = shape.map((_, d) =>
      dimTemplate(
        batches,
        all.map((s) => s![d]),
      ),
    );
    return `[${dims.join(',')}]`;
  });
  const sameArity = launches.every((l) => l.shapes.length === first.shapes.length);
  return first.name + (sameArity ? inputs.join('') : '[*]');
}

function dimTemplate(batches: readonly number[], sizes: readonly number[]): string {
  if (sizes.every((s) => s === sizes[0])) return String(sizes[0]);
  const k = sizes[0] / batches[0];
  if (Number.isInteger(k) && k >= 1 && sizes.every((s, i) => s === k * batches[i])) return k === 1 ? 'N' : `${k}N`;
  return '?';
}

/**
 * A template made concrete at `batch`: a plain string when it has no `?` (compare with `===`), otherwise a
 * RegExp that matches any size in those places.
 */
export function instantiate(template: string, batch: number): string | RegExp {
  const text = template.replace(/(?<=[[,])(\d*)N(?=[,\]])/g, (_, k: string) =>
    String((k === '' ? 1 : Number(k)) * batch),
  );
  if (!text.includes('?') && !text.includes('[*]')) return text;
  const pattern = text
    .replace(/[.*+^${}()|[\]\\]/g, '\\$&')
    .replace(/\\\[\\\*\\\]/g, '(\\[[^\\]]*\\])*') // [*]: any inputs at all
    .replace(/\\\[\?\\\]/g, '\\[[^\\]]*\\]') // [?]: one input of any shape
    .replace(/\?/g, '\\d+'); // ?: one dim of any size
  return new RegExp(`^${pattern}$`);
}

export interface SequenceMismatch {
  /** The first kernel index that differs. */
  index: number;
  expected: string;
  seen: string;
}

/** The first place `observed` departs from `templates` at `batch`, or null when it matches throughout. */
export function matchTemplates(
  templates: readonly string[],
  batch: number,
  observed: readonly KernelLaunch[],
): SequenceMismatch | null {
  const n = Math.max(templates.length, observed.length);
  for (let i = 0; i < n; i++) {
    const expected = i < templates.length ? instantiate(templates[i], batch) : null;
    const seen = i < observed.length ? launchKey(observed[i]) : null;
    const ok =
      expected !== null && seen !== null && (typeof expected === 'string' ? expected === seen : expected.test(seen));
    if (!ok) {
      return {
        index: i,
        expected: expected === null ? '(end of sequence)' : String(expected),
        seen: seen ?? '(end of sequence)',
      };
    }
  }
  return null;
}

/**
 * Collects launches for one inference: pass `record` as (or call it from) the kernel gate's hook while a
 * sequence is to be checked, e.g. during the first inference at a new batch size, then read `launches`.
 */
export class SequenceRecorder {
  readonly launches: KernelLaunch[] = [];

  readonly record = (name: string, _costMs: number, params: KernelParams): void => {
    this.launches.push(launchFromParams(name, params));
  };

  hash(): string {
    return sequenceHash(this.launches);
  }

  reset(): void {
    this.launches.length = 0;
  }
}
