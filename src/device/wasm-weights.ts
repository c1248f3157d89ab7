/**
 * A weight that only a matrix product reads leaves the wasm heap once XNNPACK has packed it. The wasm
 * backend keeps TF.js's copy of every weight, and the fully connected operator built at a weight's first
 * product (`_FusedMatMul`, `BatchMatMul`, and the pointwise convolutions of wasm-pointwise.ts) keeps a packed
 * copy of its own, cached on the weight's id, its bias's id and its activation: once built, it never reads
 * TF.js's copy again.
 *
 * Freeing a copy after its operator is built would not lower the heap's high-water mark: each layer's
 * operator is larger than the holes the layers before it left, so the heap grows all the same. So the copies
 * leave the heap before the first inference (`release`, kept in JS until `settle`), every released weight is
 * registered with the backend at one scratch block the size of the largest, and its first product copies it
 * there to be packed: the operators then fill the holes the weights left. MobileNet-v2@64: 33.3 → 23.1 MiB of
 * wasm heap after warm-up, outputs bit-identical.
 *
 * The backend's record of a released weight traps every read of its id or address. Inside a product that
 * will hit the operator cache the read is let through (the C++ side takes the pointer and does not use it);
 * anywhere else (another kernel, a product with other attributes, a read back to JS) the weight is put back
 * in the heap from its JS copy, as if it had never left. After `settle` the JS copies of packed weights are
 * gone, and such a read is refused with an INTERNAL error naming the weight, never answered with whatever
 * the heap holds there now. Weights never packed by the warm-up are put back at `settle`.
 */
import { OlympianError, ErrorCode } from '../protocol/errors.js';
import { replaceKernel, type KernelParams } from './kernel-hook.js';
import { BatchMatMul, _FusedMatMul, getKernel } from './tfjs.js';
import type { Tensor, TensorInfo } from './tfjs.js';

interface DataRecord {
  id: number;
  memoryOffset: number;
  shape: number[];
  dtype: string;
  refCount: number;
}

interface WasmBackend {
  wasm: {
    HEAPU8: Uint8Array;
    _malloc(bytes: number): number;
    _free(pointer: number): void;
    tfjs: { registerTensor(id: number, size: number, memoryOffset: number): void; disposeData(id: number): void };
  };
  dataIdMap: {
    has(dataId: object): boolean;
    get(dataId: object): DataRecord | undefined;
    set(dataId: object, record: DataRecord): void;
  };
}

/** Smaller weights are not worth a trap of their own: most models' are biases and normalisation vectors. */
const kMinBytes = 16 * 1024;

/** The released weight whose id the running product may read without putting it back. */
let permitted: ReleasedWeight | null = null;

class ReleasedWeight {
  /** The operator cache key (bias id, activation) its first product packed it with; null until then. */
  packedKey: string | null = null;

  constructor(
    readonly release: WeightRelease,
    readonly dataId: object,
    private readonly wasmId: number,
    readonly shape: number[],
    readonly dtype: string,
    public refCount: number,
    /** Its bytes, until `settle` drops them for a packed weight. */
    public copy: Uint8Array | null,
  ) {}

  get id(): number {
    // At refCount 0 the backend is disposing it: its C++ record and operators go with the id.
    if (permitted === this || this.refCount <= 0) return this.wasmId;
    return this.restore().id;
  }

  get memoryOffset(): number {
    // Its block was freed at release: disposing it frees nothing more.
    if (this.refCount <= 0) return 0;
    return this.restore().memoryOffset;
  }

  /** Puts the weight back in the heap, a plain record again; refused once its bytes are gone. */
  restore(): DataRecord {
    if (!this.copy) {
      throw new OlympianError(
        ErrorCode.INTERNAL,
        `a weight of shape [${this.shape}] was released from the wasm heap once its matrix product's operator was packed, and is now read another way (another kernel, other attributes, or a read back); the model uses it in a way its warm-up did not`,
      );
    }
    const { wasm, dataIdMap } = this.release.backend;
    // Registered anew: this also drops any operator packed from it, which the next product rebuilds.
    const memoryOffset = placeCopy(wasm, this.wasmId, this.copy);
    const record = { id: this.wasmId, memoryOffset, shape: this.shape, dtype: this.dtype, refCount: this.refCount };
    dataIdMap.set(this.dataId, record);
    this.copy = null;
    return record;
  }
}

/** Weights released together, and the scratch block their first products pack them from. */
export class WeightRelease {
  readonly #weights: ReleasedWeight[] = [];
  #scratch: number;

  constructor(
    readonly backend: WasmBackend,
    scratch: number,
  ) {
    this.#scratch = scratch;
  }

  add(weight: ReleasedWeight): void {
    this.#weights.push(weight);
  }

  /** MiB of weights released and packed (after `settle`, what stays out of the heap). */
  get packedMb(): number {
    let bytes = 0;
    for (const weight of this.#weights) if (weight.packedKey !== null && this.#isLive(weight)) bytes += sizeOf(weight);
    return bytes / 2 ** 20;
  }

  /** Called by a product about to pack `weight`: its bytes go to the scratch block it is registered at. */
  stage(weight: ReleasedWeight): void {
    if (weight.copy) this.backend.wasm.HEAPU8.set(weight.copy, this.#scratch);
  }

  /**
   * After the warm-up: the scratch block is freed, weights never packed go back into the heap, and packed
   * weights' JS copies are dropped (a later use other than their product is refused from then on).
   */
  settle(): void {
    if (this.#scratch === 0) return;
    this.backend.wasm._free(this.#scratch);
    this.#scratch = 0;
    for (const weight of this.#weights) {
      if (this.#isLive(weight) && weight.packedKey === null) weight.restore();
      else weight.copy = null;
    }
  }

  #isLive(weight: ReleasedWeight): boolean {
    return releasedOf(this.backend, weight.dataId) === weight;
  }
}

/** The released weight the backend holds for `dataId`: none once it was put back or disposed. */
function releasedOf(backend: WasmBackend, dataId: object): ReleasedWeight | null {
  // Checked first: the backend's get on an id it no longer holds tries to move the tensor from elsewhere.
  if (!backend.dataIdMap.has(dataId)) return null;
  const record = backend.dataIdMap.get(dataId);
  return record instanceof ReleasedWeight ? record : null;
}

/**
 * Puts a weight's bytes in a new block of the wasm heap and registers the weight there with the C++ side,
 * which may point elsewhere (its old block, the scratch block). malloc's 0 (the heap at its limit) is an error
 * here, not an address.
 */
function placeCopy(wasm: WasmBackend['wasm'], id: number, copy: Uint8Array): number {
  const memoryOffset = wasm._malloc(copy.byteLength) >>> 0;
  if (memoryOffset === 0)
    throw new OlympianError(
      ErrorCode.RESOURCE_EXHAUSTED,
      `the wasm heap has no room for a ${copy.byteLength}-byte weight`,
    );
  wasm.HEAPU8.set(copy, memoryOffset);
  wasm.tfjs.disposeData(id);
  wasm.tfjs.registerTensor(id, copy.byteLength / 4, memoryOffset);
  return memoryOffset;
}

const sizeOf = (weight: { shape: number[] }) => weight.shape.reduce((product, d) => product * d, 4);

/** A dense kernel or a 1×1 filter: the weights a matrix product can take as `b`. */
function isCandidate(tensor: Tensor, record: DataRecord | undefined): record is DataRecord {
  if (!record || record instanceof ReleasedWeight || record.refCount <= 0) return false;
  if (tensor.dtype !== 'float32' || tensor.size * 4 < kMinBytes) return false;
  const shape = tensor.shape;
  return shape.length === 2 || (shape.length === 4 && shape[0] === 1 && shape[1] === 1);
}

/**
 * Releases `weights` (a model's, on the wasm backend) before its first inference; null when none qualifies.
 * The products must have been wrapped (`installWeightRelease`) before anything captured their kernels.
 */
export function releaseWeights(backend: unknown, weights: readonly Tensor[]): WeightRelease | null {
  const wasmBackend = backend as WasmBackend;
  const { wasm, dataIdMap } = wasmBackend;
  const chosen = new Map<object, { record: DataRecord; copy: Uint8Array }>();
  for (const tensor of weights) {
    const record = dataIdMap.get(tensor.dataId);
    if (!isCandidate(tensor, record) || chosen.has(tensor.dataId)) continue;
    const copy = wasm.HEAPU8.slice(record.memoryOffset, record.memoryOffset + tensor.size * 4);
    chosen.set(tensor.dataId, { record, copy });
  }
  if (chosen.size === 0) return null;
  let largest = 0;
  // Every weight leaves before the scratch block is taken, so that it can take the largest hole.
  for (const { record, copy } of chosen.values()) {
    wasm._free(record.memoryOffset);
    largest = Math.max(largest, copy.byteLength);
  }
  const scratch = wasm._malloc(largest) >>> 0;
  if (scratch === 0) {
    // No room for the scratch block (the wasm heap at its limit): every weight goes back where it can.
    for (const { record, copy } of chosen.values()) record.memoryOffset = placeCopy(wasm, record.id, copy);
    return null;
  }
  const release = new WeightRelease(wasmBackend, scratch);
  for (const [dataId, { record, copy }] of chosen) {
    const { id, shape, dtype, refCount } = record;
    const weight = new ReleasedWeight(release, dataId, id, shape, dtype, refCount, copy);
    wasm.tfjs.disposeData(id);
    wasm.tfjs.registerTensor(id, copy.byteLength / 4, scratch);
    dataIdMap.set(dataId, weight as unknown as DataRecord);
    release.add(weight);
  }
  return release;
}

/**
 * The product's operator cache key and whether the C++ side takes its fast path (XNNPACK's fully connected
 * operator, cached); null where it reads `b` itself (transposed or batched operands).
 */
type CacheKey = (args: KernelParams) => string | null;

const batchOf = (shape: number[]) => shape.slice(0, -2).reduce((product, d) => product * d, 1);

/** `_FusedMatMul` passes its rank-3 operands as they are; the C++ side keys on (b, bias, clamp). */
const fusedMatMulKey: CacheKey = ({ inputs, attrs, backend }) => {
  const { a, b, bias } = inputs as Record<string, TensorInfo | undefined>;
  const { transposeA, transposeB, activation } = attrs as Record<string, unknown>;
  if (!a || !b || transposeA || transposeB || a.shape.length !== 3 || b.shape.length !== 3) return null;
  if (a.shape[0] !== 1 || b.shape[0] !== 1 || a.dataId === b.dataId) return null;
  const biasId = bias ? (backend as unknown as WasmBackend).dataIdMap.get(bias.dataId)?.id : 0;
  // PReLU is applied after the product; its cached operator is a linear one.
  return `${biasId}/${activation === 'prelu' ? 'linear' : activation}`;
};

/** `BatchMatMul` folds leading dimensions into one batch; its operator is a linear one without bias. */
const batchMatMulKey: CacheKey = ({ inputs, attrs }) => {
  const { a, b } = inputs as Record<string, TensorInfo | undefined>;
  const { transposeA, transposeB } = attrs as Record<string, unknown>;
  if (!a || !b || transposeA || transposeB || a.dataId === b.dataId) return null;
  return batchOf(a.shape) === 1 && batchOf(b.shape) === 1 ? '0/linear' : null;
};

let installed = false;

/**
 * Wraps the wasm backend's matrix products so that they pack released weights; once per thread, before
 * wasm-pointwise.ts captures `_FusedMatMul`. Without released weights a product pays two map lookups.
 */
export function installWeightRelease(): void {
  if (installed) return;
  installed = true;
  for (const [name, keyOf] of [
    [_FusedMatMul, fusedMatMulKey],
    [BatchMatMul, batchMatMulKey],
  ] as const) {
    const config = getKernel(name, 'wasm');
    if (!config) continue;
    const product = config.kernelFunc;
    replaceKernel(config, (args) => {
      const b = (args.inputs as Record<string, TensorInfo | undefined>).b;
      const weight = b && releasedOf(args.backend as unknown as WasmBackend, b.dataId);
      if (!weight) return product(args);
      const key = keyOf(args);
      // Any other use reads the weight's id unpermitted, and the trap puts it back (or refuses).
      if (key === null || (weight.packedKey !== null && weight.packedKey !== key)) return product(args);
      if (weight.packedKey === null) weight.release.stage(weight);
      permitted = weight;
      try {
        const out = product(args);
        weight.packedKey = key;
        return out;
      } finally {
        permitted = null;
      }
    });
  }
}
