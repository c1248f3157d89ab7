/**
 * `warmupInputs`: what a real batch-of-one input looks like, for models that refuse the made-up one. A session
 * warms up (and probes its memory) on a constant input of each input's shape, every free dimension 1 and
 * every value 0 by default — which many real models refuse: Silero VAD fails on a 1-sample window and on a
 * sample rate of 0. Per input, `shape` gives the free dimensions and `fill` the value. Checked here for its
 * form; the session checks it against the model's signature once the model is loaded.
 */
import { Errors, isOlympianError } from './errors.js';
import { floatToHalf } from './float16.js';

export type WarmupInputs = Record<string, { shape?: number[]; fill?: number }>;

const kMaxRank = 16;
const integerDtypes = new Set(['int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64', 'bool']);

export function validateWarmupInputs(value: unknown, field: string): void {
  if (value === undefined) return;
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw Errors.invalidConfig(
      field,
      'must map input names to { shape, fill }, e.g. { "input": { "shape": [1, 512] } }',
    );
  for (const [name, entry] of Object.entries(value)) {
    const at = `${field}.${name}`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry))
      throw Errors.invalidConfig(at, 'must be an object with shape (a list of sizes) and/or fill (a number)');
    const stray = Object.keys(entry).find((key) => key !== 'shape' && key !== 'fill');
    if (stray) throw Errors.invalidConfig(`${at}.${stray}`, 'is not a warm-up option (shape, fill)');
    const { shape, fill } = entry as { shape?: unknown; fill?: unknown };
    if (shape !== undefined) {
      if (!Array.isArray(shape) || shape.length > kMaxRank)
        throw Errors.invalidConfig(`${at}.shape`, `must be a list of at most ${kMaxRank} sizes`);
      shape.forEach((size, i) => {
        if (!Number.isSafeInteger(size) || size < 1)
          throw Errors.invalidConfig(`${at}.shape[${i}]`, `must be an integer >= 1, got ${JSON.stringify(size)}`);
      });
    }
    if (fill !== undefined && !(typeof fill === 'number' && Number.isFinite(fill)))
      throw Errors.invalidConfig(`${at}.fill`, 'must be a finite number');
  }
}

const entryOf = (warmups: WarmupInputs | undefined, name: string) =>
  warmups && Object.hasOwn(warmups, name) ? warmups[name] : undefined;

/**
 * The shape warm-up feeds `input`: its signature's, with free dimensions from `warmupInputs` when given, else
 * `batch` on axis 0 and 1 elsewhere. A free batch axis (axis 0) is always `batch`, so warm-up and probes can
 * vary it. Errors name `warmupInputs.<input>` (the session's configuration key).
 */
export function warmupShape(
  input: { name: string; shape?: (number | null)[] | null },
  warmups: WarmupInputs | undefined,
  batch: number,
): number[] {
  const signature = input.shape ?? [1];
  const given = entryOf(warmups, input.name)?.shape;
  if (given) {
    const field = `warmupInputs.${input.name}.shape`;
    if (given.length !== signature.length)
      throw Errors.invalidConfig(field, `has rank ${given.length}, but the model's input has rank ${signature.length}`);
    signature.forEach((size, i) => {
      if (size !== null && given[i] !== size)
        throw Errors.invalidConfig(`${field}[${i}]`, `is ${given[i]}, but the model fixes that dimension at ${size}`);
    });
  }
  return signature.map((size, i) => size ?? (i === 0 ? batch : (given?.[i] ?? 1)));
}

/** The value every element of `input`'s warm-up tensor holds (0 unless told); an integer for integer dtypes. */
export function warmupFill(input: { name: string; dtype?: string | null }, warmups: WarmupInputs | undefined): number {
  const fill = entryOf(warmups, input.name)?.fill ?? 0;
  if (input.dtype && integerDtypes.has(input.dtype) && !Number.isSafeInteger(fill))
    throw Errors.invalidConfig(`warmupInputs.${input.name}.fill`, `must be an integer for a ${input.dtype} input`);
  return fill;
}

/** Names in `warmups` the model has no input for (a typo would otherwise be ignored). */
export function checkWarmupNames(inputs: readonly { name: string }[], warmups: WarmupInputs | undefined): void {
  if (!warmups) return;
  const names = new Set(inputs.map((input) => input.name));
  const stray = Object.keys(warmups).find((name) => !names.has(name));
  if (stray)
    throw Errors.invalidConfig(
      `warmupInputs.${stray}`,
      `names no input of the model (its inputs: ${[...names].join(', ')})`,
    );
}

/**
 * A warm-up run that failed on a made-up input is a load failure naming `warmupInputs` (the fix is there),
 * not an internal error; a typed error (a bad warmupInputs entry, a lost device) stays what it is.
 */
export function warmupFailed(error: unknown, source: string, fed: Record<string, readonly number[]>): unknown {
  if (isOlympianError(error)) return error;
  const shapes = Object.entries(fed)
    .map(([name, shape]) => `${name} [${shape.join(', ')}]`)
    .join(', ');
  const why = (error instanceof Error ? error.message : String(error)).split('\n')[0];
  return Errors.modelLoadFailed(
    source,
    `its warm-up run (${shapes}) failed: ${why} — give the shape and value of a real input in warmupInputs`,
    'warmupInputs',
  );
}

/** Sets every element of a warm-up tensor's `data` to `value`: 64-bit integers as BigInts, float16 as its bits. */
export function fillWarmup<T extends ArrayLike<unknown>>(data: T, dtype: string, value: number): T {
  if (value === 0) return data;
  const typed = data as unknown as { fill(value: unknown): void };
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) typed.fill(BigInt(value));
  else typed.fill(dtype === 'float16' ? floatToHalf(value) : value);
  return data;
}
