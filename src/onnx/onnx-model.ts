/**
 * An ONNX model loaded into onnxruntime: its signature (from the session's input and output metadata, free
 * dimensions as null), and a run — whole, or segment after segment once it is split (segments.ts), with a
 * callback after each segment where the session may hand its token on.
 */
import { Errors } from '../protocol/errors.js';
import type { ModelSignature, TensorSpec } from '../protocol/signature.js';
import type { OnnxFile } from './model-file.js';
import { sessionOptions, type Ort, type OrtSession, type OrtTensor, type OrtValueMetadata } from './ort.js';
import type { SegmentPlan } from './segments.js';

export interface OnnxModelOptions {
  providers: readonly string[];
  intraOpThreads: number;
}

interface Segment {
  session: OrtSession;
  inputs: readonly string[];
  outputs: readonly string[];
}

/** Element types a tensor of the signature may have: what the wire can carry (protocol/tensors.ts). */
const carried = new Set<string>([
  'float32',
  'float16',
  'float64',
  'int8',
  'uint8',
  'int16',
  'uint16',
  'int32',
  'uint32',
  'int64',
  'uint64',
  'bool',
]);

function specOf(meta: OrtValueMetadata, kind: 'input' | 'output', source: string): TensorSpec {
  if (!meta.isTensor || meta.type === undefined)
    throw Errors.modelLoadFailed(source, `${kind} ${meta.name} is not a tensor (sequences and maps are not served)`);
  if (!carried.has(meta.type))
    throw Errors.modelLoadFailed(source, `${kind} ${meta.name} is a ${meta.type} tensor, which olympian cannot carry`);
  return {
    name: meta.name,
    dtype: meta.type as TensorSpec['dtype'],
    shape: meta.shape ? meta.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : null)) : null,
  };
}

/** A failure to create a session: the provider's when the message names one asked for, else the model's. */
function createFailed(error: unknown, source: string, providers: readonly string[]) {
  const message = (error as Error)?.message ?? String(error);
  const index = providers.findIndex((name) => name !== 'cpu' && message.toLowerCase().includes(name.toLowerCase()));
  if (index >= 0) return Errors.providerUnavailable(`executionProviders[${index}]`, providers[index], message);
  return Errors.modelLoadFailed(source, `onnxruntime rejected it: ${message}`);
}

export class OnnxModel {
  readonly signature: ModelSignature;
  readonly file: OnnxFile;
  readonly #ort: Ort;
  readonly #options: OnnxModelOptions;
  #segments: Segment[];

  private constructor(ort: Ort, file: OnnxFile, options: OnnxModelOptions, session: OrtSession) {
    this.#ort = ort;
    this.file = file;
    this.#options = options;
    this.#segments = [{ session, inputs: session.inputNames, outputs: session.outputNames }];
    try {
      this.signature = {
        inputs: session.inputMetadata.map((meta) => specOf(meta, 'input', file.source)),
        outputs: session.outputMetadata.map((meta) => specOf(meta, 'output', file.source)),
      };
    } catch (error) {
      void session.release();
      throw error;
    }
  }

  static async load(ort: Ort, file: OnnxFile, options: OnnxModelOptions): Promise<OnnxModel> {
    const session = await OnnxModel.#create(ort, file.bytes, file, options);
    return new OnnxModel(ort, file, options, session);
  }

  static async #create(ort: Ort, bytes: Uint8Array, file: OnnxFile, options: OnnxModelOptions): Promise<OrtSession> {
    try {
      return await ort.InferenceSession.create(
        bytes,
        sessionOptions(options.providers, options.intraOpThreads, file.dir),
      );
    } catch (error) {
      throw createFailed(error, file.source, options.providers);
    }
  }

  get segmentCount(): number {
    return this.#segments.length;
  }

  /** Replaces the whole model by its segments (all created before the whole one is released). */
  async split(plans: SegmentPlan[]): Promise<void> {
    if (plans.length < 2) return;
    const made: Segment[] = [];
    try {
      for (const plan of plans) {
        const session = await OnnxModel.#create(this.#ort, plan.model, this.file, this.#options);
        made.push({ session, inputs: plan.inputs, outputs: plan.outputs });
      }
    } catch (error) {
      await Promise.all(made.map((segment) => segment.session.release()));
      throw error;
    }
    const old = this.#segments;
    this.#segments = made;
    await Promise.all(old.map((segment) => segment.session.release()));
  }

  /**
   * Runs every segment in turn; `after(index, ms)` follows each one (its wall time: the run is synchronous on
   * this thread) and may block, e.g. to hand the token on. Returns the graph's outputs.
   */
  /** Back to the whole model in one session (a split that cost too much), releasing the segments. */
  async join(): Promise<void> {
    if (this.#segments.length < 2) return;
    const session = await OnnxModel.#create(this.#ort, this.file.bytes, this.file, this.#options);
    const old = this.#segments;
    this.#segments = [{ session, inputs: session.inputNames, outputs: session.outputNames }];
    await Promise.all(old.map((segment) => segment.session.release()));
  }

  async run(
    feeds: Record<string, OrtTensor>,
    after?: (index: number, ms: number) => void,
  ): Promise<Record<string, OrtTensor>> {
    const values: Record<string, OrtTensor> = { ...feeds };
    for (const [index, segment] of this.#segments.entries()) {
      const inputs: Record<string, OrtTensor> = {};
      for (const name of segment.inputs) inputs[name] = values[name];
      const start = performance.now();
      Object.assign(values, await segment.session.run(inputs));
      after?.(index, performance.now() - start);
    }
    const outputs: Record<string, OrtTensor> = {};
    for (const spec of this.signature.outputs) outputs[spec.name] = values[spec.name];
    return outputs;
  }

  async release(): Promise<void> {
    const segments = this.#segments;
    this.#segments = [];
    await Promise.all(segments.map((segment) => segment.session.release()));
  }
}
