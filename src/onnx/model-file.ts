/**
 * An ONNX model as a session is given it: a `.onnx` file (path or file:// URL), a directory holding
 * `model.onnx` (a TF-Serving version directory too), or an http(s) URL of a `.onnx` file. Reading checks what
 * the runtime would otherwise trip over later or less clearly — an unreadable file, bytes that are not an
 * ONNX model, external data files that are missing, too short, or outside the model's directory — each a
 * MODEL_LOAD_FAILED naming the file at fault.
 */
import { existsSync, statSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { dirname, join, relative, resolve, isAbsolute } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Errors } from '../protocol/errors.js';
import {
  decodeModel,
  elementBytes,
  kExternalLocation,
  OnnxDataType,
  toNumber,
  type ModelMessage,
  type OnnxElementType,
  type TensorMessage,
} from './onnx-proto.js';

export const MODEL_ONNX = 'model.onnx';

export interface OnnxFile {
  /** The source as given, for messages. */
  source: string;
  /** The model's bytes, and its directory on disk (where external data is resolved), if it has one. */
  bytes: Uint8Array;
  dir: string | undefined;
  model: ModelMessage;
  /** Bytes of every initializer and constant, inline or external: the model's weights. */
  weightBytes: number;
}

const isUrl = (source: string) => /^https?:\/\//i.test(source);
const localPath = (source: string) => (source.startsWith('file://') ? fileURLToPath(source) : source);

/**
 * Whether a model source names an ONNX model: a `.onnx` path or URL, or a directory with `model.onnx` and
 * no TF.js `model.json` (a directory with both is served as the TF.js model it always was).
 */
export function isOnnxSource(source: unknown): source is string {
  if (typeof source !== 'string' || source.startsWith('zoo:')) return false;
  if (isUrl(source)) return /\.onnx$/i.test(source.replace(/[?#].*$/, ''));
  const path = localPath(source);
  if (/\.onnx$/i.test(path)) return true;
  try {
    return statSync(path).isDirectory() && existsSync(join(path, MODEL_ONNX)) && !existsSync(join(path, 'model.json'));
  } catch {
    return false;
  }
}

const typeName = (dataType: number | undefined): OnnxElementType | undefined =>
  (Object.keys(OnnxDataType) as OnnxElementType[]).find((name) => OnnxDataType[name] === dataType);

/** A tensor's size in bytes from its dims and type (0 for strings, whose size the dims do not say). */
export function tensorBytes(tensor: TensorMessage): number {
  const type = typeName(tensor.dataType);
  if (type === undefined || type === 'string') return 0;
  return (tensor.dims ?? []).reduce<number>((n, d) => n * toNumber(d), 1) * elementBytes[type];
}

const externalEntry = (tensor: TensorMessage, key: string) => tensor.externalData?.find((e) => e.key === key)?.value;

/** Each external initializer's file must lie inside the model's directory and hold the bytes it points at. */
async function checkExternalData(model: ModelMessage, dir: string | undefined, source: string): Promise<void> {
  const external = model.graph.initializer.filter((t) => t.dataLocation === kExternalLocation);
  if (external.length === 0) return;
  if (dir === undefined)
    throw Errors.modelLoadFailed(source, 'its weights are in external data files, which need the model on disk');
  const sizes = new Map<string, number>();
  for (const tensor of external) {
    const location = externalEntry(tensor, 'location');
    if (!location)
      throw Errors.modelLoadFailed(source, `initializer ${tensor.name} has external data without a location`);
    const path = resolve(dir, location);
    const inside = relative(dir, path);
    if (inside.startsWith('..') || isAbsolute(inside))
      throw Errors.modelLoadFailed(
        source,
        `initializer ${tensor.name}'s external data ${location} lies outside the model's directory`,
      );
    let size = sizes.get(path);
    if (size === undefined) {
      size = await stat(path).then(
        (info) => info.size,
        () => -1,
      );
      sizes.set(path, size);
    }
    if (size < 0) throw Errors.modelLoadFailed(path, `the external data of initializer ${tensor.name} is missing`);
    const offset = Number(externalEntry(tensor, 'offset') ?? 0);
    const length = Number(externalEntry(tensor, 'length') ?? tensorBytes(tensor));
    if (!(offset + length <= size))
      throw Errors.modelLoadFailed(
        path,
        `holds ${size} bytes; initializer ${tensor.name} needs bytes ${offset} to ${offset + length}`,
      );
  }
}

function weightBytesOf(model: ModelMessage): number {
  const constants = model.graph.node
    .filter((node) => node.opType === 'Constant')
    .flatMap((node) => node.attribute ?? [])
    .flatMap((a) => (a.t ? [a.t] : []));
  return [...model.graph.initializer, ...constants].reduce((sum, t) => sum + tensorBytes(t), 0);
}

async function readBytes(source: string): Promise<{ bytes: Uint8Array; dir: string | undefined; file: string }> {
  if (isUrl(source)) {
    let response: Response;
    try {
      response = await fetch(source);
    } catch (error) {
      throw Errors.modelLoadFailed(source, (error as Error).message);
    }
    if (!response.ok) throw Errors.modelLoadFailed(source, `HTTP ${response.status} ${response.statusText}`);
    return { bytes: new Uint8Array(await response.arrayBuffer()), dir: undefined, file: source };
  }
  const path = localPath(source);
  const file = /\.onnx$/i.test(path) ? path : join(path, MODEL_ONNX);
  try {
    return { bytes: await readFile(file), dir: dirname(resolve(file)), file };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw Errors.modelLoadFailed(file, code === 'ENOENT' ? 'no such file' : (error as Error).message);
  }
}

/** Reads and checks an ONNX model; the runtime loads it from these bytes (external data from `dir`). */
export async function readOnnxFile(source: string): Promise<OnnxFile> {
  const { bytes, dir, file } = await readBytes(source);
  let model: ModelMessage;
  try {
    model = decodeModel(bytes);
  } catch (error) {
    throw Errors.modelLoadFailed(file, `is not an ONNX model (${(error as Error).message})`);
  }
  if (!model.graph || model.graph.node.length === 0 || model.graph.output.length === 0)
    throw Errors.modelLoadFailed(file, 'is not an ONNX model (no graph with nodes and outputs)');
  await checkExternalData(model, dir, file);
  return { source, bytes, dir, model, weightBytes: weightBytesOf(model) };
}
