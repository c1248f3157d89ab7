/**
 * The GPU device: TF.js's webgpu backend on the `webgpu` package (dawn.node: WebGPU over Vulkan, Metal or
 * D3D12), one GPUDevice per session worker. Both packages are optional; without them, or without an adapter,
 * asking for webgpu is BACKEND_UNAVAILABLE.
 */
import * as tf from './tfjs.js';
import type { BackendInfo } from '../protocol/session-messages.js';
import { probeWebgpu, unavailable, type AdapterInfo } from './webgpu-adapter.js';

export { probeWebgpu } from './webgpu-adapter.js';

/** Starts the webgpu backend on whatever adapter there is (a software one too: it was asked for by name). */
export async function initWebgpu(): Promise<BackendInfo> {
  const adapter = await probeWebgpu();
  try {
    await import('@tensorflow/tfjs-backend-webgpu');
  } catch (error) {
    throw unavailable(
      `the optional package "@tensorflow/tfjs-backend-webgpu" is not installed (${(error as Error).message})`,
    );
  }
  if (!(await tf.setBackend('webgpu'))) throw unavailable('tf.setBackend("webgpu") returned false');
  await tf.ready();
  watchDeviceLoss();
  watchDeviceErrors();
  return backendInfoOf(adapter);
}

/** What a webgpu session reports as its backend (and what its profiles' fingerprint is made of). */
export const backendInfoOf = (adapter: AdapterInfo): BackendInfo => ({
  name: 'webgpu',
  flags: { ...adapter, tfjs: tf.version_core },
});

type DeviceLike = {
  lost?: Promise<{ reason?: string; message?: string }>;
  destroy?(): void;
  addEventListener?(type: 'uncapturederror', listener: (event: { error?: { message?: string } }) => void): void;
};

let deviceError: string | null = null;

/**
 * WebGPU reports a rejected command (a weight larger than the adapter's maxStorageBufferBindingSize, say)
 * as an event, not an exception, and the work is dropped: outputs would be silently wrong. Keep the first
 * message so the inference that caused it fails instead (see `takeDeviceError`).
 */
function watchDeviceErrors(): void {
  deviceOf()?.addEventListener?.('uncapturederror', (event) => {
    deviceError ??= event.error?.message?.split('\n')[0] ?? 'unknown GPU error';
  });
}

/** The GPU error raised since the last call, if any (cleared by reading it). */
export function takeDeviceError(): string | null {
  const error = deviceError;
  deviceError = null;
  return error;
}

const deviceOf = () => (tf.backend() as unknown as { device?: DeviceLike }).device;

/**
 * A lost GPU device cannot be recovered in-thread: end the thread, so the session restarts like a crash.
 * Only our own shutdown destroys the device on purpose.
 */
function watchDeviceLoss(): void {
  void deviceOf()?.lost?.then((info) => {
    // Not the reason: a device destroyed by anyone but our own shutdown ('destroyed' too) is as lost.
    if (shuttingDown) return;
    console.error(
      `olympian: GPU device lost (${info.reason ?? 'unknown'}: ${info.message ?? ''}); restarting the session`,
    );
    beforeExitOnLoss?.();
    process.exit(70);
  });
}

let beforeExitOnLoss: (() => void) | null = null;

/** Runs just before the thread exits over a lost device (the session leaves word of why in its stats). */
export function onDeviceLost(listener: () => void): void {
  beforeExitOnLoss = listener;
}

let shuttingDown = false;

/**
 * Destroys the thread's GPU device and waits until dawn.node has settled it. Terminating a worker while
 * dawn.node still has work in flight aborts the whole process (a fatal napi_throw), so a webgpu session
 * thread is shut down this way before it is terminated.
 */
export async function shutdownWebgpu(): Promise<void> {
  if (tf.getBackend() !== 'webgpu') return;
  const device = deviceOf();
  await gpuIdle().catch(() => {});
  shuttingDown = true;
  device?.destroy?.();
  await device?.lost;
  await new Promise((resolve) => setTimeout(resolve, 10));
}

interface WebgpuBackendLike {
  commandEncoder: object | null;
  endComputePassEncoder(): void;
  submitQueue(): void;
  device: { queue: { onSubmittedWorkDone(): Promise<void> } };
}

/**
 * Sends the commands encoded so far to the GPU (what the gate does at a quantum boundary), the way the
 * backend itself does every few dispatches: close the open compute pass, then submit. Nothing encoded,
 * nothing to do.
 */
export function submitQueued(): void {
  const backend = tf.backend() as unknown as WebgpuBackendLike;
  if (!backend.commandEncoder) return;
  backend.endComputePassEncoder();
  backend.submitQueue();
}

/** Resolves when the GPU has finished everything submitted so far. */
export function gpuIdle(): Promise<void> {
  return (tf.backend() as unknown as WebgpuBackendLike).device.queue.onSubmittedWorkDone();
}
