/**
 * KServe v2 / Open Inference Protocol over gRPC (`inference.GRPCInferenceService`), answered as the REST
 * routes answer (kserve.ts in src/http: the same readiness, metadata and errors). ModelInfer:
 *   1. inputs come as typed `contents` or, for every input at once, as `raw_input_contents`; a request that
 *      sets both is INVALID_ARGUMENT (field `inputs[i].contents`); FP16 comes only raw;
 *   2. the answer is raw (`raw_output_contents`) when the request was, or when an output's datatype has no
 *      typed list (FP16), typed otherwise;
 *   3. `outputs`, when given, are the only outputs returned, in that order;
 *   4. `id` is echoed; `model_version`, when given, must be the served version (NOT_FOUND otherwise);
 *   5. `parameters.priority` and `parameters.timeout` mean what Triton documents (see requestOptions).
 */
import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import { tracked } from '../http/infer.js';
import { modelMetadata, modelReady, serverName, serverReady, serverVersion } from '../http/kserve.js';
import { v2DType, wireFromV2 } from '../http/signature.js';
import { Errors } from '../protocol/errors.js';
import type { ModelSignature } from '../protocol/signature.js';
import type { NamedTensors, WireTensor } from '../protocol/tensors.js';
import { inferForCall, unary, type CallInfo, type GrpcContext } from './call.js';
import { requestOptions, type InferParameter } from './parameters.js';
import { checkShape, rawOf, tensorFromRaw, tensorFromValues, valuesOf } from './values.js';

interface Contents {
  bool_contents: boolean[];
  int_contents: number[];
  int64_contents: number[];
  uint_contents: number[];
  uint64_contents: number[];
  fp32_contents: number[];
  fp64_contents: number[];
  bytes_contents: Buffer[];
}

interface InferInput {
  name: string;
  datatype: string;
  shape: number[];
  contents: Contents | null;
}

interface ModelInferRequest {
  model_name: string;
  model_version: string;
  id: string;
  parameters: Record<string, InferParameter>;
  inputs: InferInput[];
  outputs: Array<{ name: string }>;
  raw_input_contents: Buffer[];
}

type NameAndVersion = { name: string; version: string };

/** The contents list each numeric datatype's values travel in (FP16 has none: it is sent raw; BYTES is refused). */
const contentsField: Record<string, Exclude<keyof Contents, 'bytes_contents'>> = {
  BOOL: 'bool_contents',
  INT8: 'int_contents',
  INT16: 'int_contents',
  INT32: 'int_contents',
  INT64: 'int64_contents',
  UINT8: 'uint_contents',
  UINT16: 'uint_contents',
  UINT32: 'uint_contents',
  UINT64: 'uint64_contents',
  FP32: 'fp32_contents',
  FP64: 'fp64_contents',
};

const contentsKeys = Object.keys({
  bool_contents: 0,
  int_contents: 0,
  int64_contents: 0,
  uint_contents: 0,
  uint64_contents: 0,
  fp32_contents: 0,
  fp64_contents: 0,
  bytes_contents: 0,
} satisfies Record<keyof Contents, 0>) as Array<keyof Contents>;

const filledLists = (contents: Contents | null) =>
  contents === null ? [] : contentsKeys.filter((key) => contents[key].length > 0);

function typedInput(input: InferInput, shape: number[], field: string): WireTensor {
  const dtype = wireFromV2(input.datatype, `${field}.datatype`);
  const list = Object.hasOwn(contentsField, input.datatype) ? contentsField[input.datatype] : undefined;
  if (list === undefined)
    throw Errors.invalidArgument(
      `${field}.contents`,
      `cannot hold ${input.datatype} values: send them in raw_input_contents`,
    );
  const stray = filledLists(input.contents).find((key) => key !== list);
  if (stray)
    throw Errors.invalidArgument(`${field}.contents.${stray}`, `is not where ${input.datatype} values go (${list})`);
  return tensorFromValues(input.contents?.[list] ?? [], input.datatype, dtype, shape, `${field}.contents.${list}`);
}

/** The request's tensors by name, and whether they came raw (rule 1). */
export function parseInputs(request: ModelInferRequest): { inputs: NamedTensors; names: string[]; raw: boolean } {
  if (request.inputs.length === 0) throw Errors.invalidArgument('inputs', 'must list at least one input');
  const raw = request.raw_input_contents.length > 0;
  if (raw && request.raw_input_contents.length !== request.inputs.length) {
    throw Errors.invalidArgument(
      'raw_input_contents',
      `has ${request.raw_input_contents.length} entries for ${request.inputs.length} inputs: one per input, in their order`,
    );
  }
  const inputs: NamedTensors = Object.create(null);
  const names = request.inputs.map((input, i) => {
    const field = `inputs[${i}]`;
    if (Object.hasOwn(inputs, input.name))
      throw Errors.invalidArgument(`${field}.name`, `duplicates ${JSON.stringify(input.name)}`);
    const shape = checkShape(input.shape, `${field}.shape`);
    if (!raw) {
      inputs[input.name] = typedInput(input, shape, field);
      return input.name;
    }
    if (filledLists(input.contents).length > 0)
      throw Errors.invalidArgument(`${field}.contents`, 'must be empty when the request sends raw_input_contents');
    const dtype = wireFromV2(input.datatype, `${field}.datatype`);
    inputs[input.name] = tensorFromRaw(
      request.raw_input_contents[i],
      input.datatype,
      dtype,
      shape,
      `raw_input_contents[${i}]`,
    );
    return input.name;
  });
  return { inputs, names, raw };
}

/** Every name given must be one of the model's, once (`inputs[i].name` / `outputs[i].name` at fault). */
function checkNames(names: string[], specs: ModelSignature['inputs'], list: 'inputs' | 'outputs'): void {
  const known = new Set(specs.map((s) => s.name));
  const seen = new Set<string>();
  names.forEach((name, i) => {
    if (!known.has(name))
      throw Errors.invalidArgument(
        `${list}[${i}].name`,
        `${JSON.stringify(name)} is not one of this model's ${list} (${[...known].join(', ')})`,
      );
    if (seen.has(name)) throw Errors.invalidArgument(`${list}[${i}].name`, `duplicates ${JSON.stringify(name)}`);
    seen.add(name);
  });
}

function outputContents(tensor: WireTensor): Partial<Contents> {
  const list = contentsField[v2DType(tensor.dtype)];
  return { [list]: valuesOf(tensor) };
}

async function modelInfer(ctx: GrpcContext, request: ModelInferRequest, info: CallInfo) {
  const name = request.model_name;
  const version = request.model_version === '' ? undefined : request.model_version;
  return tracked(
    ctx,
    name,
    async () => {
      ctx.models.route(name, version); // an unknown model is NOT_FOUND whatever the message
      const parsed = parseInputs(request);
      const options = requestOptions(request.parameters);
      const wanted = request.outputs.map((output) => output.name);
      let signature: ModelSignature | undefined;
      const { outputs, served } = await inferForCall(ctx, info, {
        model: name,
        version,
        ...options,
        inputs: (served) => {
          signature = served.signature;
          checkNames(parsed.names, signature.inputs, 'inputs');
          checkNames(wanted, signature.outputs, 'outputs');
          return parsed.inputs;
        },
      });
      const names =
        wanted.length > 0 ? wanted : signature!.outputs.map((s) => s.name).filter((n) => Object.hasOwn(outputs, n));
      const raw = parsed.raw || names.some((n) => !Object.hasOwn(contentsField, v2DType(outputs[n].dtype)));
      return {
        model_name: name,
        model_version: served.version,
        id: request.id,
        parameters: {},
        outputs: names.map((n) => ({
          name: n,
          datatype: v2DType(outputs[n].dtype),
          shape: outputs[n].shape,
          parameters: {},
          contents: raw ? null : outputContents(outputs[n]),
        })),
        raw_output_contents: raw ? names.map((n) => rawOf(outputs[n])) : [],
      };
    },
    'grpc',
  );
}

const versionOf = (request: NameAndVersion) => (request.version === '' ? undefined : request.version);

export function kserveService(ctx: GrpcContext): UntypedServiceImplementation {
  const probe = { whileClosing: true };
  return {
    ServerLive: unary(ctx, 'ServerLive', () => ({ live: true }), probe),
    ServerReady: unary(ctx, 'ServerReady', () => ({ ready: serverReady(ctx) }), probe),
    ModelReady: unary(
      ctx,
      'ModelReady',
      (request: NameAndVersion) => ({ ready: modelReady(ctx, request.name, versionOf(request)) }),
      probe,
    ),
    ServerMetadata: unary(ctx, 'ServerMetadata', () => ({ name: serverName, version: serverVersion, extensions: [] })),
    ModelMetadata: unary(ctx, 'ModelMetadata', (request: NameAndVersion) =>
      modelMetadata(ctx, request.name, versionOf(request)),
    ),
    ModelInfer: unary(ctx, 'ModelInfer', (request: ModelInferRequest, info) => modelInfer(ctx, request, info)),
  };
}
