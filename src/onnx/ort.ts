/**
 * onnxruntime-node, loaded only in a thread that serves an ONNX model (a dynamic import: TF.js-only servers
 * never load its 300 MB of native code), with the little of its API olympian uses typed here, so that the
 * sources compile where the optional package was not installed.
 *
 * Where `run()` works: the binding's `run` is synchronous (N-API, no AsyncWorker) and the JS wrapper only
 * defers it by one setImmediate, so a run executes on the calling thread — the session's own worker thread,
 * never libuv's pool. With one intra-op thread ORT starts no pool of its own either: measured with
 * /proc/self/task/<tid>/schedstat over 20 runs of a conv stack, 392 of 393 ms of CPU time were the session
 * thread's, while the default (one intra-op thread per core) added a spinning pool thread that took 308 ms
 * more for the same work on 2 cores. Hence one intra-op thread by default: one token is one core.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Errors } from '../protocol/errors.js';

export type OrtData =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array;

export interface OrtTensor {
  readonly type: string;
  readonly dims: readonly number[];
  readonly data: OrtData;
  dispose(): void;
}

export interface OrtValueMetadata {
  name: string;
  isTensor: boolean;
  type?: string;
  shape?: Array<number | string>;
}

export interface OrtSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly inputMetadata: readonly OrtValueMetadata[];
  readonly outputMetadata: readonly OrtValueMetadata[];
  run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>;
  release(): Promise<void>;
}

export interface OrtSessionOptions {
  executionProviders: string[];
  intraOpNumThreads: number;
  interOpNumThreads: number;
  executionMode: 'sequential';
  graphOptimizationLevel: 'all';
  logSeverityLevel: 0 | 1 | 2 | 3 | 4;
  extra?: Record<string, unknown>;
}

export interface Ort {
  InferenceSession: { create(model: string | Uint8Array, options: OrtSessionOptions): Promise<OrtSession> };
  Tensor: new (type: string, data: OrtData, dims: readonly number[]) => OrtTensor;
  listSupportedBackends(): Array<{ name: string; bundled: boolean }>;
  env: { versions: { common?: string; node?: string } };
}

const kPackage = 'onnxruntime-node';
let loading: Promise<Ort> | null = null;

/** The package, imported once per thread; BACKEND_UNAVAILABLE when it is not installed or does not load. */
export function loadOrt(): Promise<Ort> {
  loading ??= import(kPackage).then(
    (module: { default?: Ort } & Ort) => (module.default ?? module) as Ort,
    (error: Error) => {
      loading = null;
      throw Errors.backendUnavailable(
        kPackage,
        `ONNX models need the optional package onnxruntime-node, which did not load (${error.message}); install it with "npm install onnxruntime-node" (README: "ONNX models")`,
      );
    },
  );
  return loading;
}

/** The directory holding the native libraries (where a GPU provider's own library must be, too). */
function nativeDir(): string | null {
  try {
    const main = createRequire(import.meta.url).resolve(kPackage);
    return join(dirname(main), '..', 'bin', 'napi-v6', process.platform, process.arch);
  } catch {
    return null;
  }
}

/** Libraries a provider the build lists but does not bundle needs beside the binding (onnxruntime-node's install script fetches them). */
const providerLibraries: Record<string, string[]> = {
  cuda: ['libonnxruntime_providers_cuda.so', 'libonnxruntime_providers_shared.so'],
  tensorrt: ['libonnxruntime_providers_tensorrt.so', 'libonnxruntime_providers_shared.so'],
};

/**
 * Every provider asked for must be in this build and, where the build does not bundle it, installed: else
 * BACKEND_UNAVAILABLE naming `executionProviders[i]` and what to do about it.
 */
export function checkProviders(ort: Ort, providers: readonly string[]): void {
  const supported = ort.listSupportedBackends();
  providers.forEach((name, i) => {
    const entry = supported.find((backend) => backend.name === name);
    const field = `executionProviders[${i}]`;
    if (!entry) {
      throw Errors.providerUnavailable(
        field,
        name,
        `this onnxruntime-node build has ${supported.map((b) => b.name).join(', ')}`,
      );
    }
    if (entry.bundled) return;
    const dir = nativeDir();
    const missing = (providerLibraries[name] ?? []).filter((file) => dir === null || !existsSync(join(dir, file)));
    if (missing.length > 0) {
      throw Errors.providerUnavailable(
        field,
        name,
        `its libraries are not installed (${missing.join(', ')}); on a machine with the GPU and its drivers run "ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node" (README: "GPU providers")`,
      );
    }
  });
}

/** Providers that drive a GPU: their sessions may never overlap, so they need one token (K = 1). */
export const gpuProviders: ReadonlySet<string> = new Set(['webgpu', 'cuda', 'tensorrt', 'dml', 'coreml', 'rocm']);

export const isGpuProvider = (name: string) => gpuProviders.has(name);

/** The options every olympian session is created with; `modelDir` resolves external data of a model read as bytes. */
export function sessionOptions(providers: readonly string[], intraOpThreads: number, modelDir?: string) {
  const options: OrtSessionOptions = {
    executionProviders: [...providers],
    intraOpNumThreads: intraOpThreads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3,
  };
  if (modelDir !== undefined) options.extra = { session: { model_external_initializers_file_folder_path: modelDir } };
  return options;
}

export function ortVersion(ort: Ort): string {
  return ort.env.versions.node ?? ort.env.versions.common ?? 'unknown';
}
