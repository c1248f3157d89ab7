/**
 * dawn.node's `navigator.gpu` and its adapter, without TF.js: the webgpu backend (webgpu.ts) and the synthetic
 * GPU sessions (which dispatch their own shaders, and would pay TF.js's ~0.4 s and ~90 MiB per thread for
 * nothing) both start here. The `webgpu` package is optional; without it, or without an adapter, asking for
 * webgpu is BACKEND_UNAVAILABLE.
 */
import { existsSync, readdirSync } from 'node:fs';
import { Errors } from '../protocol/errors.js';

/** BACKEND_UNAVAILABLE for webgpu, naming the field; the backend set-up (webgpu.ts) raises it too. */
export const unavailable = (why: string) => Errors.backendUnavailable('webgpu', why);

export interface AdapterInfo {
  vendor: string;
  architecture: string;
  description: string;
  software: boolean;
  timestampQuery: boolean;
  /** The largest buffer one kernel may bind, bytes: a model weight above it cannot run on this adapter. */
  maxStorageBufferBindingSize: number;
}

let gpu: GPU | null = null;

/**
 * Installs `navigator.gpu` from dawn.node — TF.js's backend registers itself only if it exists when the
 * backend module is imported — and returns this thread's adapter. `allow_unsafe_apis` lets Dawn expose
 * timestamp queries; without turning off `timestamp_quantization` Dawn rounds them (to 32.768 µs on
 * lavapipe), which reads most kernels of a fast GPU as 0 ms.
 */
export async function requestWebgpuAdapter(): Promise<GPUAdapter> {
  if (!gpu) {
    let webgpu: { create(flags: string[]): GPU; globals: object };
    try {
      webgpu = (await import('webgpu')) as unknown as typeof webgpu;
    } catch (error) {
      throw unavailable(`the optional package "webgpu" is not installed (${(error as Error).message})`);
    }
    Object.assign(globalThis, webgpu.globals);
    gpu = webgpu.create(['enable-dawn-features=allow_unsafe_apis', 'disable-dawn-features=timestamp_quantization']);
    const nav = ((globalThis as { navigator?: object }).navigator ??= {}) as { gpu?: GPU };
    Object.defineProperty(nav, 'gpu', { value: gpu, configurable: true });
  }
  const adapter = await gpu.requestAdapter();
  if (!adapter)
    throw unavailable('no WebGPU adapter (no GPU with a Vulkan/Metal/D3D12 driver, and no software Vulkan)');
  return adapter;
}

/** Installs `navigator.gpu` (see `requestWebgpuAdapter`) and describes the adapter. */
export async function probeWebgpu(): Promise<AdapterInfo> {
  return describeAdapter(await requestWebgpuAdapter());
}

export function describeAdapter(adapter: GPUAdapter): AdapterInfo {
  const { vendor = '', architecture = '', description = '' } = adapter.info;
  return {
    vendor,
    architecture,
    description,
    software:
      Boolean((adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter) ||
      architecture === 'software' ||
      /llvmpipe|lavapipe|swiftshader/i.test(description),
    timestampQuery: adapter.features.has('timestamp-query'),
    maxStorageBufferBindingSize: adapter.limits?.maxStorageBufferBindingSize ?? 0,
  };
}

/**
 * Whether a GPU could be here at all, without loading Dawn: on Linux a GPU driver exposes a device node (a DRM
 * render node, NVIDIA's nodes, WSL's /dev/dxg). Dawn prints adapter warnings when it starts, which a machine
 * with no GPU, that asked for none, should not show.
 */
function mayHaveGpu(): boolean {
  if (process.platform !== 'linux') return true;
  try {
    if (readdirSync('/dev/dri').some((name) => name.startsWith('renderD'))) return true;
  } catch {
    // no DRM devices at all
  }
  return ['/dev/nvidia0', '/dev/nvidiactl', '/dev/dxg'].some((path) => existsSync(path));
}

/** Main thread: whether this machine has a hardware GPU adapter (`device: 'auto'` uses it if so). */
export async function hasHardwareGpu(): Promise<boolean> {
  if (!mayHaveGpu()) return false;
  try {
    return !(await probeWebgpu()).software;
  } catch {
    return false;
  }
}
