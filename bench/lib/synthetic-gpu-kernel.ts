/**
 * The synthetic kernel on a GPU: one compute dispatch in which a single invocation runs `iterations` of the
 * xorshift steps `spinKernel` runs on the CPU and stores the result, so no compiler can drop the loop and a
 * test can check on the CPU that the GPU really ran them. Cost is counted in iterations, as on the CPU: a
 * dispatch owes the same work however long it waits behind other sessions' work. One invocation, not a
 * grid: its time is then linear in iterations on any GPU (and on lavapipe), whatever else is resident.
 *
 * Every dispatch gets a compute pass of its own, so that with `timing` each one can carry timestamp writes at
 * its start and end (slots 2k and 2k+1 for the inference's k-th dispatch), resolved at the inference's end.
 */
import { Errors } from '../../src/protocol/errors.js';
import type { GpuCalibrationMethod } from './synthetic-protocol.js';

const shader = /* wgsl */ `
struct Params { iterations: u32, seed: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> result: array<u32>;

@compute @workgroup_size(1)
fn main() {
  var x = params.seed;
  for (var i = 0u; i < params.iterations; i++) {
    x ^= x << 13u;
    x ^= x >> 17u;
    x ^= x << 5u;
  }
  result[0] = x;
}`;

/** `spinKernel`'s starting state, so the GPU's result equals the CPU's for the same iterations. */
const kSeed = 0x9e3779b9;
/** Bytes per dispatch in the resolved timestamps: two u64 (start, end). */
const kStampBytes = 16;

export interface GpuSpinOptions {
  iterations: number;
  /** Time each dispatch with timestamp queries (the adapter must have `timestamp-query`). */
  timing: boolean;
  /** The most dispatches one inference encodes (the timestamp slots reserved). */
  maxDispatches: number;
}

export class GpuSpin {
  readonly device: GPUDevice;
  readonly #pipeline: GPUComputePipeline;
  readonly #bindGroup: GPUBindGroup;
  readonly #params: GPUBuffer;
  readonly #result: GPUBuffer;
  readonly #timer: { querySet: GPUQuerySet; resolved: GPUBuffer; readback: GPUBuffer } | null;
  readonly #maxDispatches: number;
  #encoder: GPUCommandEncoder | null = null;
  /** Dispatches encoded in the current inference; those of the last ended one, until its times are read. */
  #dispatches = 0;
  #ended = 0;
  #error: string | null = null;
  #closed: Promise<GPUDeviceLostReason> | null = null;
  submits = 0;

  private constructor(device: GPUDevice, options: GpuSpinOptions) {
    this.device = device;
    this.#maxDispatches = options.maxDispatches;
    const module = device.createShaderModule({ code: shader });
    this.#pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
    this.#params = device.createBuffer({ size: 8, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
    this.#result = device.createBuffer({ size: 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
    this.#bindGroup = device.createBindGroup({
      layout: this.#pipeline.getBindGroupLayout(0),
      entries: [
        { binding: 0, resource: { buffer: this.#params } },
        { binding: 1, resource: { buffer: this.#result } },
      ],
    });
    const stampBytes = options.maxDispatches * kStampBytes;
    this.#timer = options.timing
      ? {
          querySet: device.createQuerySet({ type: 'timestamp', count: 2 * options.maxDispatches }),
          resolved: device.createBuffer({
            size: stampBytes,
            usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
          }),
          readback: device.createBuffer({ size: stampBytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST }),
        }
      : null;
    this.setIterations(options.iterations);
    // A rejected command is an event, not an exception, and its work is dropped: keep the first message so
    // the session fails instead of counting work the GPU never did.
    device.addEventListener('uncapturederror', (event) => {
      this.#error ??= (event as GPUUncapturedErrorEvent).error.message.split('\n')[0];
    });
    void device.lost.then((info) => {
      if (info.reason !== 'destroyed') this.#error ??= `GPU device lost: ${info.message}`;
    });
  }

  /** Whether each dispatch carries timestamp writes (`readGpuMs` then reads GPU time). */
  get timing(): boolean {
    return this.#timer !== null;
  }

  /** A device of its own on `adapter` (with `timestamp-query` whenever the adapter has it). */
  static async open(adapter: GPUAdapter, options: GpuSpinOptions): Promise<GpuSpin> {
    if (!(options.maxDispatches >= 1))
      throw Errors.invalidArgument('kernelsPerInference', `must be at least 1, got ${options.maxDispatches}`);
    const hasTimestamps = adapter.features.has('timestamp-query');
    if (options.timing && !hasTimestamps) {
      throw Errors.invalidArgument(
        'gpuTiming',
        'needs an adapter with the "timestamp-query" feature, and this one has none',
      );
    }
    const device = await adapter.requestDevice({ requiredFeatures: hasTimestamps ? ['timestamp-query'] : [] });
    return new GpuSpin(device, options);
  }

  setIterations(iterations: number): void {
    if (!Number.isInteger(iterations) || iterations < 1 || iterations > 0xffffffff) {
      throw Errors.invalidArgument('kernelIterations', `must be an integer from 1 to 2^32-1, got ${iterations}`);
    }
    this.device.queue.writeBuffer(this.#params, 0, new Uint32Array([iterations, kSeed]));
  }

  /** Encodes one kernel into the current command encoder (nothing reaches the GPU until `submit`). */
  encode(): void {
    const slot = this.#dispatches++;
    if (this.#timer && slot >= this.#maxDispatches) {
      throw Errors.invalidArgument(
        'kernelsPerInference',
        `an inference encoded more than ${this.#maxDispatches} dispatches`,
      );
    }
    const encoder = (this.#encoder ??= this.device.createCommandEncoder());
    const pass = encoder.beginComputePass(
      this.#timer
        ? {
            timestampWrites: {
              querySet: this.#timer.querySet,
              beginningOfPassWriteIndex: 2 * slot,
              endOfPassWriteIndex: 2 * slot + 1,
            },
          }
        : {},
    );
    pass.setPipeline(this.#pipeline);
    pass.setBindGroup(0, this.#bindGroup);
    pass.dispatchWorkgroups(1);
    pass.end();
  }

  /** Sends what is encoded so far to the GPU; nothing encoded, nothing sent. */
  submit(): void {
    if (!this.#encoder) return;
    this.device.queue.submit([this.#encoder.finish()]);
    this.#encoder = null;
    this.submits++;
  }

  /** Submits the inference's last commands, and with `timing` the copy of its timestamps for `readGpuMs`. */
  endInference(): void {
    if (this.#timer && this.#dispatches > 0) {
      const encoder = (this.#encoder ??= this.device.createCommandEncoder());
      // The queries written by earlier submits of this inference are resolved here too: they outlive a submit.
      encoder.resolveQuerySet(this.#timer.querySet, 0, 2 * this.#dispatches, this.#timer.resolved, 0);
      encoder.copyBufferToBuffer(this.#timer.resolved, 0, this.#timer.readback, 0, this.#dispatches * kStampBytes);
    }
    this.submit();
    this.#ended = this.#dispatches;
    this.#dispatches = 0;
  }

  /** Resolves when the GPU has finished everything submitted so far; rejects if it rejected or lost any. */
  async done(): Promise<void> {
    await this.device.queue.onSubmittedWorkDone();
    if (this.#error) throw Errors.unavailable(`the GPU did not run the synthetic kernel: ${this.#error}`);
  }

  /** The last ended inference's summed dispatch GPU time, ms (0 without `timing`). Call after `done`. */
  async readGpuMs(): Promise<number> {
    const count = this.#ended;
    this.#ended = 0;
    if (!this.#timer || count === 0) return 0;
    const { readback } = this.#timer;
    await readback.mapAsync(GPUMapMode.READ, 0, count * kStampBytes);
    const stamps = new BigUint64Array(readback.getMappedRange(0, count * kStampBytes));
    let ns = 0n;
    // A pass whose end reads before its start (a clock reset between them) counts nothing, not a negative.
    for (let k = 0; k < count; k++) if (stamps[2 * k + 1] > stamps[2 * k]) ns += stamps[2 * k + 1] - stamps[2 * k];
    readback.unmap();
    return Number(ns) / 1e6;
  }

  /** The last kernel's result, read back from the GPU (`spinKernel(iterations) >>> 0` if it ran them all). */
  async result(): Promise<number> {
    const readback = this.device.createBuffer({ size: 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const encoder = this.device.createCommandEncoder();
    encoder.copyBufferToBuffer(this.#result, 0, readback, 0, 4);
    this.device.queue.submit([encoder.finish()]);
    await readback.mapAsync(GPUMapMode.READ);
    const value = new Uint32Array(readback.getMappedRange())[0];
    readback.destroy();
    return value;
  }

  /**
   * Waits for the GPU, destroys the device and waits until dawn.node has settled it: a worker terminated
   * with work in flight aborts the whole process (a fatal napi error). Resolves to why the device was lost
   * ('destroyed' unless it was lost before); safe to call more than once.
   */
  close(): Promise<GPUDeviceLostReason> {
    this.#closed ??= (async () => {
      this.#encoder = null;
      await this.device.queue.onSubmittedWorkDone().catch(() => {});
      this.device.destroy();
      const { reason } = await this.device.lost;
      // dawn.node finishes its own callbacks for the device on the next turns of the event loop.
      await new Promise((resolve) => setTimeout(resolve, 10));
      return reason;
    })();
    return this.#closed;
  }
}

/**
 * Iterations per ms of solo GPU time, the median of `rounds` dispatches grown until each takes `targetMs`
 * (so the per-dispatch overhead is small beside it). Timed by timestamp queries around the dispatch when the
 * spin has them, else by the wall time from submit to `onSubmittedWorkDone` (which adds the submit and the
 * wake-up). The first dispatch compiles the shader on a software adapter and wakes a hardware one: not timed.
 */
export async function calibrateGpuSpin(
  spin: GpuSpin,
  targetMs = 20,
  rounds = 5,
): Promise<{ iterationsPerMs: number; method: GpuCalibrationMethod }> {
  const timestamps = spin.timing;
  const time = async (iterations: number) => {
    spin.setIterations(iterations);
    spin.encode();
    const start = performance.now();
    spin.endInference();
    await spin.done();
    const wallMs = performance.now() - start;
    const gpuMs = await spin.readGpuMs();
    return timestamps ? gpuMs : wallMs;
  };
  let iterations = 1 << 14;
  await time(iterations);
  for (let ms = await time(iterations); ms < targetMs && iterations < 2 ** 31; ms = await time(iterations)) {
    iterations = Math.min(2 ** 31, Math.ceil(iterations * Math.min(16, (1.5 * targetMs) / Math.max(ms, 0.01))));
  }
  const rates: number[] = [];
  for (let round = 0; round < rounds; round++) rates.push(iterations / (await time(iterations)));
  rates.sort((a, b) => a - b);
  return {
    iterationsPerMs: rates[Math.floor(rates.length / 2)],
    method: timestamps ? 'timestamp-query' : 'submit-to-done wall time',
  };
}
