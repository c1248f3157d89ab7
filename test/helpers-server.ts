import * as assert from 'uvu/assert';
import { OlympianError, type ErrorCode } from '../src/protocol/errors.js';
import type { NamedTensors } from '../src/protocol/tensors.js';
import type { SessionConfig } from '../src/server/config.js';

export const tinyModule = new URL('./fixtures/tiny-models.ts', import.meta.url).href;

export function image(size = 16, fill = (i: number) => Math.sin(i), batch = 1): NamedTensors {
  const data = new Float32Array(batch * size * size * 3);
  for (let i = 0; i < data.length; i++) data[i] = fill(i);
  return { image: { dtype: 'float32', shape: [batch, size, size, 3], data } };
}

export const tinySession = (name: string, options: object = {}, extra: Partial<SessionConfig> = {}): SessionConfig => ({
  name,
  model: { module: tinyModule, options },
  ...extra,
});

export async function rejectsWith(promise: Promise<unknown>, code: ErrorCode, field?: string): Promise<OlympianError> {
  try {
    await promise;
  } catch (error) {
    assert.instance(error, OlympianError, String(error));
    assert.is((error as OlympianError).code, code, (error as Error).message);
    if (field !== undefined) assert.is((error as OlympianError).field, field, (error as Error).message);
    return error as OlympianError;
  }
  assert.unreachable(`expected ${code}`);
  throw new Error('unreachable');
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
