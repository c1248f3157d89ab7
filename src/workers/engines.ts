/**
 * The engine a session thread runs its model on, imported when the thread starts so that it loads only its
 * own: a TF.js session never loads onnxruntime (300 MB of native code, an optional package), and an ONNX
 * session never loads TF.js.
 */
import { preferMinifiedTfjs } from '../device/minified-tfjs.js';
import { isOnnxSource } from '../onnx/model-file.js';
import type { ModelSource } from '../protocol/session-messages.js';
import type { Runtime, SessionWorkerData } from './session-runtime.js';

export interface Engine {
  start(data: SessionWorkerData, stats: Float64Array): Promise<Runtime>;
  /** Before the thread is terminated, once the runtime (if any) is disposed: lets the device settle. */
  shutdown(): Promise<void>;
}

export async function engineFor(source: ModelSource): Promise<Engine> {
  if (isOnnxSource(source)) {
    const { startOnnxRuntime } = await import('./onnx-runtime.js');
    return { start: startOnnxRuntime, shutdown: async () => {} };
  }
  preferMinifiedTfjs();
  const [{ startRuntime }, { shutdownWebgpu }] = await Promise.all([
    import('./session-runtime.js'),
    import('../device/webgpu.js'),
  ]);
  return { start: startRuntime, shutdown: shutdownWebgpu };
}
