/**
 * Picks and initialises the TF.js backend inside a session worker. An explicit request that cannot be met is
 * an error (BACKEND_UNAVAILABLE), never a silent fallback; only `auto` falls back (wasm, then cpu).
 */
import * as tf from '@tensorflow/tfjs';
import { ErrorCode, OlympianError } from '../protocol/errors.js';
import type { BackendInfo, BackendRequest } from '../protocol/session-messages.js';

const unavailable = (backend: string, why: string) =>
  new OlympianError(ErrorCode.BACKEND_UNAVAILABLE, `backend ${JSON.stringify(backend)} is unavailable: ${why}`, { field: 'backend' });

async function tryWasm(): Promise<string | null> {
  try {
    await import('@tensorflow/tfjs-backend-wasm');
    return (await tf.setBackend('wasm')) ? null : 'tf.setBackend("wasm") returned false';
  } catch (error) {
    return (error as Error).message;
  }
}

export async function initBackend(request: BackendRequest): Promise<BackendInfo> {
  switch (request) {
    case 'wasm': {
      const failure = await tryWasm();
      if (failure) throw unavailable('wasm', failure);
      break;
    }
    case 'auto':
      if (await tryWasm()) await tf.setBackend('cpu');
      break;
    case 'cpu':
      if (!(await tf.setBackend('cpu'))) throw unavailable('cpu', 'tf.setBackend("cpu") returned false');
      break;
    case 'webgpu':
    case 'tensorflow':
      throw unavailable(request, 'not supported by this build yet (use wasm or cpu)');
    default:
      throw new OlympianError(ErrorCode.INVALID_CONFIG, `invalid configuration: backend must be one of auto, wasm, cpu, webgpu, tensorflow, got ${JSON.stringify(request)}`, { field: 'backend' });
  }
  await tf.ready();
  // The cpu backend prints an advert for tfjs-node on its first write in Node; a serving log has no use for it.
  const backend = tf.backend() as { firstUse?: boolean };
  if (tf.getBackend() === 'cpu' && 'firstUse' in backend) backend.firstUse = false;
  return describeBackend();
}

async function describeBackend(): Promise<BackendInfo> {
  const name = tf.getBackend();
  const flags: BackendInfo['flags'] = {};
  if (name === 'wasm') {
    flags.simd = Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'));
    flags.threads = Boolean(await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT'));
  }
  flags.tfjs = tf.version.tfjs;
  return { name, flags };
}

/** Whether `dataSync()` hands back a fresh array (wasm copies out of its heap; cpu returns its own storage). */
export const readsAreCopies = (backend: string) => backend === 'wasm';
