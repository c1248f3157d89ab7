/**
 * The kernel hook: puts the kernel gate in front of every kernel of a backend: each registered kernel is re-registered with a
 * wrapper (getKernelsForBackend → unregisterKernel → registerKernel), so any model format (LayersModel,
 * GraphModel, raw ops) passes it — the TF.js counterpart of Olympian's hook in TensorFlow's executor.
 *
 * The wrapper times each outermost kernel (these backends run kernels synchronously, so the time is the
 * device time) and hands the cost to `onKernel`, which may block to yield the token. Kernels a kernel calls
 * through the engine are counted inside their caller. The hook also gets the kernel's own params object
 * (`{inputs, attrs, backend}`), passed as is: the profiler reads input shapes from it, the hot path reads
 * nothing, so passing it costs nothing.
 */
import { getKernelsForBackend, registerKernel, unregisterKernel, type KernelConfig, type KernelFunc } from './tfjs.js';

/** What TF.js passes a kernel function: `{ inputs, attrs, backend }`. */
export type KernelParams = Parameters<KernelFunc>[0];

export type KernelHook = (kernelName: string, costMs: number, params: KernelParams) => void;

export interface InstalledHook {
  /** Puts the original kernels back. */
  uninstall(): void;
  readonly kernelCount: number;
}

export function installKernelHook(backendName: string, onKernel: KernelHook): InstalledHook {
  const originals = getKernelsForBackend(backendName);
  let depth = 0;
  for (const config of originals) {
    const inner = config.kernelFunc;
    const name = config.kernelName;
    const gated: KernelFunc = (params) => {
      if (depth > 0) return inner(params);
      depth++;
      const start = performance.now();
      try {
        return inner(params);
      } finally {
        depth--;
        // Charged after the kernel returns: a kernel cannot be preempted, and the yield may block here.
        onKernel(name, performance.now() - start, params);
      }
    };
    replaceKernel(config, gated);
  }
  return {
    kernelCount: originals.length,
    uninstall() {
      for (const config of originals) replaceKernel(config, config.kernelFunc);
    },
  };
}

/** Registers `kernelFunc` in place of the kernel `config` registers (same name, backend and set-up). */
export function replaceKernel(config: KernelConfig, kernelFunc: KernelFunc): void {
  unregisterKernel(config.kernelName, config.backendName);
  // setupFunc already ran when the backend initialised; registering it again would not re-run it.
  registerKernel({ ...config, kernelFunc });
}
