/**
 * TF-Serving over gRPC: `tensorflow.serving.PredictionService` (Predict, GetModelMetadata) and
 * `tensorflow.serving.ModelService` (GetModelStatus), answered as the REST routes answer (tfserving.ts in
 * src/http). The model spec:
 *   1. `name` is required; `version`, when set, must be the served version (NOT_FOUND otherwise) and
 *      `version_label` is always NOT_FOUND (olympian configures no labels);
 *   2. `signature_name` is "" or "serving_default", the one signature a TF.js model has.
 * Predict takes exactly the model's inputs by name; `output_filter` picks outputs; the answer carries its
 * values as tensor_content when every input came that way, in the typed lists otherwise.
 */
import { status as GrpcStatus, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { tracked } from '../http/infer.js';
import { specShape, tfDType } from '../http/signature.js';
import { Errors } from '../protocol/errors.js';
import type { ModelSignature, TensorSpec } from '../protocol/signature.js';
import type { NamedTensors } from '../protocol/tensors.js';
import { inferForCall, unary, type CallInfo, type GrpcContext } from './call.js';
import { packAny } from './protos.js';
import { grpcStatusOfCode } from './status.js';
import { tensorFromProto, tensorToProto, type TensorProto } from './tf-tensors.js';

interface ModelSpec {
  name: string;
  version: { value: number } | null;
  version_label: string;
  signature_name: string;
  version_choice?: 'version' | 'version_label';
}

interface PredictRequest {
  model_spec: ModelSpec | null;
  inputs: Record<string, TensorProto>;
  output_filter: string[];
}

const kSignatureKey = 'serving_default';
const kPredictMethod = 'tensorflow/serving/predict';

/** The model and version a spec names (rule 1). */
function parseSpec(spec: ModelSpec | null): { name: string; version?: string } {
  if (spec === null || spec.name === '') throw Errors.invalidArgument('model_spec.name', 'must name a model');
  if (spec.version_choice === 'version_label') {
    const error = Errors.notFound(
      'version',
      `label ${JSON.stringify(spec.version_label)} (olympian serves versions by number; no labels are configured)`,
    );
    throw Errors.atField(error, 'model_spec.version_label');
  }
  if (spec.version_choice !== 'version' || spec.version === null) return { name: spec.name };
  const value = spec.version.value;
  if (!Number.isSafeInteger(value) || value < 0)
    throw Errors.invalidArgument('model_spec.version', `must be a version number >= 0, got ${value}`);
  return { name: spec.name, version: String(value) };
}

function checkSignatureName(spec: ModelSpec): void {
  if (spec.signature_name !== '' && spec.signature_name !== kSignatureKey) {
    throw Errors.invalidArgument(
      'model_spec.signature_name',
      `must be ${kSignatureKey} (the one signature a TF.js model has), got ${JSON.stringify(spec.signature_name)}`,
    );
  }
}

const answerSpec = (name: string, version: string) => ({
  name,
  version: { value: Number(version) },
  signature_name: kSignatureKey,
});

/** The request's names must be exactly the model's inputs. */
function checkInputNames(names: string[], signature: ModelSignature): void {
  const known = new Set(signature.inputs.map((s) => s.name));
  for (const name of names)
    if (!known.has(name))
      throw Errors.invalidArgument(
        `inputs.${name}`,
        `is not an input of this model (inputs: ${[...known].join(', ')})`,
      );
  for (const spec of signature.inputs)
    if (!names.includes(spec.name)) throw Errors.invalidArgument(`inputs.${spec.name}`, 'is missing');
}

function checkOutputFilter(filter: string[], signature: ModelSignature): void {
  const known = new Set(signature.outputs.map((s) => s.name));
  filter.forEach((name, i) => {
    if (!known.has(name))
      throw Errors.invalidArgument(
        `output_filter[${i}]`,
        `${JSON.stringify(name)} is not an output of this model (outputs: ${[...known].join(', ')})`,
      );
    if (filter.indexOf(name) !== i)
      throw Errors.invalidArgument(`output_filter[${i}]`, `duplicates ${JSON.stringify(name)}`);
  });
}

async function predict(ctx: GrpcContext, request: PredictRequest, info: CallInfo) {
  const { name, version } = parseSpec(request.model_spec);
  return tracked(
    ctx,
    name,
    async () => {
      ctx.models.route(name, version); // an unknown model is NOT_FOUND whatever the message
      checkSignatureName(request.model_spec!);
      const names = Object.keys(request.inputs);
      if (names.length === 0) throw Errors.invalidArgument('inputs', "must hold the model's inputs by name");
      const inputs: NamedTensors = Object.create(null);
      let raw = true;
      for (const input of names) {
        const decoded = tensorFromProto(request.inputs[input], `inputs.${input}`);
        inputs[input] = decoded.tensor;
        raw &&= decoded.raw;
      }
      let signature: ModelSignature | undefined;
      const { outputs, served } = await inferForCall(ctx, info, {
        model: name,
        version,
        inputs: (served) => {
          signature = served.signature;
          checkInputNames(names, signature);
          checkOutputFilter(request.output_filter, signature);
          return inputs;
        },
      });
      const wanted =
        request.output_filter.length > 0
          ? request.output_filter
          : signature!.outputs.map((s) => s.name).filter((n) => Object.hasOwn(outputs, n));
      return {
        model_spec: answerSpec(name, served.version),
        outputs: Object.fromEntries(wanted.map((n) => [n, tensorToProto(outputs[n], raw)])),
      };
    },
    'grpc',
  );
}

const tensorInfos = (specs: TensorSpec[]) =>
  Object.fromEntries(
    specs.map((spec) => [
      spec.name,
      {
        name: `${spec.name}:0`,
        dtype: tfDType(spec.dtype),
        tensor_shape: spec.shape === null ? { unknown_rank: true } : { dim: specShape(spec).map((size) => ({ size })) },
      },
    ]),
  );

function getModelMetadata(ctx: GrpcContext, request: { model_spec: ModelSpec | null; metadata_field: string[] }) {
  const { name, version } = parseSpec(request.model_spec);
  const served = ctx.models.route(name, version);
  if (request.metadata_field.length === 0)
    throw Errors.invalidArgument('metadata_field', 'must ask for "signature_def", the metadata there is');
  request.metadata_field.forEach((field, i) => {
    if (field !== 'signature_def')
      throw Errors.invalidArgument(`metadata_field[${i}]`, `must be "signature_def", got ${JSON.stringify(field)}`);
  });
  const signatureDef = {
    inputs: tensorInfos(served.signature.inputs),
    outputs: tensorInfos(served.signature.outputs),
    method_name: kPredictMethod,
  };
  return {
    model_spec: answerSpec(name, served.version),
    metadata: {
      signature_def: packAny(ctx.protos.root, 'tensorflow.serving.SignatureDefMap', {
        signature_def: { [kSignatureKey]: signatureDef },
      }),
    },
  };
}

function getModelStatus(ctx: GrpcContext, request: { model_spec: ModelSpec | null }) {
  const { name, version } = parseSpec(request.model_spec);
  return {
    model_version_status: ctx.models.status(name, version).map((row) => ({
      version: Number(row.version),
      state: row.state,
      status: {
        error_code: row.error ? GrpcStatus[grpcStatusOfCode[row.error.code] ?? GrpcStatus.UNKNOWN] : 'OK',
        error_message: ctx.paths.redact(row.error?.message ?? ''),
      },
    })),
  };
}

export function predictionService(ctx: GrpcContext): UntypedServiceImplementation {
  return {
    Predict: unary(ctx, 'Predict', (request: PredictRequest, info) => predict(ctx, request, info)),
    GetModelMetadata: unary(
      ctx,
      'GetModelMetadata',
      (request: { model_spec: ModelSpec | null; metadata_field: string[] }) => getModelMetadata(ctx, request),
    ),
  };
}

export function modelService(ctx: GrpcContext): UntypedServiceImplementation {
  return {
    GetModelStatus: unary(ctx, 'GetModelStatus', (request: { model_spec: ModelSpec | null }) =>
      getModelStatus(ctx, request),
    ),
  };
}
