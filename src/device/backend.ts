/**
 * Picks and initialises the TF.js backend inside a session worker. An explicit request that cannot be met is
 * an error (BACKEND_UNAVAILABLE), never a silent fallback; only `auto` falls back (wasm, then cpu). Whether
 * `auto` means the GPU is decided once, on the main thread (`Server.create`), not by probing in every worker.
 */
import * as tf from './tfjs.js';
import { Errors } from '../protocol/errors.js';
import type { BackendInfo, BackendRequest } from '../protocol/session-messages.js';
import { initWebgpu, probeWebgpu } from './webgpu.js';
import { installPointwiseAsMatMul } from './wasm-pointwise.js';
import { installWeightRelease } from './wasm-weights.js';

const unavailable = Errors.backendUnavailable;

async function tryWasm(): Promise<string | null> {
  try {
    await import('@tensorflow/tfjs-backend-wasm');
    if (!(await tf.setBackend('wasm'))) return 'tf.setBackend("wasm") returned false';
    // In this order: the pointwise rewrite captures the product that packs released weights.
    installWeightRelease();
    installPointwiseAsMatMul();
    return null;
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
      // The GPU was ruled out by the main thread (createServer probes it once): wasm, else cpu.
      if (await tryWasm()) await tf.setBackend('cpu');
      break;
    case 'cpu':
      if (!(await tf.setBackend('cpu'))) throw unavailable('cpu', 'tf.setBackend("cpu") returned false');
      break;
    case 'webgpu':
      await initWebgpu();
      return describeBackend();
    case 'tensorflow':
      throw unavailable(
        request,
        'native TensorFlow (tfjs-node) is not supported in session workers: it is process-global and fails in a second worker thread (tfjs issue 8388); use webgpu for a GPU',
      );
    default:
      throw Errors.invalidConfig(
        'backend',
        `must be one of auto, wasm, cpu, webgpu, tensorflow, got ${JSON.stringify(request)}`,
      );
  }
  await tf.ready();
  // The cpu backend prints an advert for tfjs-node on its first write in Node; a serving log has no use for it.
  const backend = tf.backend() as { firstUse?: boolean };
  if (tf.getBackend() === 'cpu' && 'firstUse' in backend) backend.firstUse = false;
  return describeBackend();
}

async function describeBackend(): Promise<BackendInfo> {
  const name = tf.getBackend();
  if (name === 'webgpu') return { name, flags: { ...(await probeWebgpu()), tfjs: tf.version_core } };
  const flags: BackendInfo['flags'] = {};
  if (name === 'wasm') {
    flags.simd = Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'));
    flags.threads = Boolean(await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT'));
  }
  flags.tfjs = tf.version_core;
  return { name, flags };
}

/** Whether reading a tensor hands back a fresh array (wasm and webgpu copy out; cpu returns its own storage). */
export const readsAreCopies = (backend: string) => backend === 'wasm' || backend === 'webgpu';

/** Kernels run asynchronously on the device: their wall time on this thread is not their cost. */
export const isAsynchronous = (backend: string) => backend === 'webgpu';
