/**
 * Selects the TF.js backend for this thread. Each worker thread has its own TF.js engine, so a session
 * worker calls this once before loading a model.
 */
import * as tf from '@tensorflow/tfjs';
import { Errors } from '../protocol/errors.js';

export type BackendName = 'wasm' | 'cpu';

/** Sets `preferred` (falling back from wasm to cpu when wasm cannot start) and returns what is active. */
export async function initBackend(preferred: BackendName = 'wasm'): Promise<BackendName> {
  if (tf.getBackend() === preferred) return preferred;
  if (preferred === 'wasm') {
    // Imported lazily: registering the backend costs a wasm compile this thread may not need.
    await import('@tensorflow/tfjs-backend-wasm');
    if (await tf.setBackend('wasm').catch(() => false)) {
      await tf.ready();
      return 'wasm';
    }
  }
  if (!(await tf.setBackend('cpu'))) throw Errors.unavailable('no TF.js backend could start (tried wasm, cpu)');
  await tf.ready();
  return 'cpu';
}
