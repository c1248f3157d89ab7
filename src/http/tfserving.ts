/**
 * TF-Serving's REST API (https://www.tensorflow.org/tfx/serving/api_rest):
 *   GET  /v1/models/{name}[/versions/{v}]            version status
 *   GET  /v1/models/{name}[/versions/{v}]/metadata   the signature
 *   POST /v1/models/{name}[/versions/{v}]:predict    row ("instances") or columnar ("inputs") format
 * A row request is answered with "predictions", a columnar one with "outputs"; with several named
 * outputs, each prediction (or "outputs") is an object keyed by output name.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Errors } from '../protocol/errors.js';
import type { ModelSignature, TensorSpec } from '../protocol/signature.js';
import type { NamedTensors, WireTensor } from '../protocol/tensors.js';
import { inferRoute } from './body.js';
import { inferForRequest, tracked, type HttpContext } from './infer.js';
import { columnOf, isNamedMap, rowsOf, stackRows, tensorFromJson } from './json-tensors.js';
import { MsgpackBody, msgpackInfer } from './msgpack.js';
import { inputDType, specShape, tfDType } from './signature.js';

interface ModelPath {
  name: string;
  version?: string;
  /** `metadata` for GET .../metadata, the verb after ":" for POST (predict, classify, regress). */
  action?: string;
}

const pathPattern = /^([^/:]+)(?:\/versions\/(\d+)|\/labels\/([^/:]+))?(?:\/(metadata)|:([A-Za-z]+))?$/;

function parsePath(rest: string, method: string, url: string): ModelPath {
  const match = pathPattern.exec(rest);
  if (!match) throw Errors.notFound('route', `${method} ${url.split('?')[0]}`);
  if (match[3] !== undefined)
    throw Errors.notFound('version', `label ${JSON.stringify(match[3])} (version labels are not supported)`);
  const version = match[2] === undefined ? undefined : String(Number(match[2]));
  return { name: decodeURIComponent(match[1]), version, action: match[4] ?? match[5] };
}

const specsFor = (specs: TensorSpec[]) =>
  Object.fromEntries(
    specs.map((spec) => [
      spec.name,
      {
        dtype: tfDType(spec.dtype),
        tensor_shape:
          spec.shape === null
            ? { dim: [], unknown_rank: true }
            : { dim: specShape(spec).map((size) => ({ size: String(size), name: '' })), unknown_rank: false },
        name: `${spec.name}:0`,
      },
    ]),
  );

function metadata(name: string, version: string, signature: ModelSignature) {
  return {
    model_spec: { name, signature_name: '', version },
    metadata: {
      signature_def: {
        signature_def: {
          serving_default: {
            inputs: specsFor(signature.inputs),
            outputs: specsFor(signature.outputs),
            method_name: 'tensorflow/serving/predict',
          },
        },
      },
    },
  };
}

function status(ctx: HttpContext, name: string, version?: string) {
  const rows = ctx.models.status(name, version);
  return {
    model_version_status: rows.map((row) => ({
      version: row.version,
      state: row.state,
      status: { error_code: row.error?.code ?? 'OK', error_message: ctx.paths.redact(row.error?.message ?? '') },
    })),
  };
}

/** A named-inputs object (the client's keys: read only as own properties) must name exactly the model's inputs. */
function checkNames(value: Record<string, unknown>, signature: ModelSignature, field: string): void {
  const known = new Set(signature.inputs.map((s) => s.name));
  for (const key of Object.keys(value)) {
    if (!known.has(key)) {
      throw Errors.invalidArgument(
        `${field}.${key}`,
        `is not an input of this model (inputs: ${signature.inputs.map((s) => s.name).join(', ')})`,
      );
    }
  }
  for (const spec of signature.inputs)
    if (!Object.hasOwn(value, spec.name)) throw Errors.invalidArgument(`${field}.${spec.name}`, 'is missing');
}

function singleInput(signature: ModelSignature, field: string): TensorSpec {
  if (signature.inputs.length !== 1) {
    throw Errors.invalidArgument(
      field,
      `must name the model's ${signature.inputs.length} inputs (${signature.inputs.map((s) => s.name).join(', ')}) in an object`,
    );
  }
  return signature.inputs[0];
}

function rowInputs(instances: unknown[], signature: ModelSignature): NamedTensors {
  if (instances.length === 0) throw Errors.invalidArgument('instances', 'must not be empty');
  const named = instances.every(isNamedMap);
  if (!named && instances.some(isNamedMap))
    throw Errors.invalidArgument('instances', 'mixes named-input objects with bare values');
  if (!named) {
    // Bare rows are one tensor with the batch axis outermost: converted whole, with no copy per row.
    const spec = singleInput(signature, 'instances[0]');
    return { [spec.name]: tensorFromJson(instances, inputDType(spec, 'instances[0]'), 'instances', spec.shape) };
  }
  // Keyed by the signature's names; null-prototype all the same, so that no name can reach Object.prototype.
  const inputs: NamedTensors = Object.create(null);
  for (const spec of signature.inputs) {
    const dtype = inputDType(spec, `instances[0].${spec.name}`);
    const item = spec.shape === null ? null : spec.shape.slice(1);
    const rows: WireTensor[] = instances.map((instance, i) => {
      const record = instance as Record<string, unknown>;
      checkNames(record, signature, `instances[${i}]`);
      return tensorFromJson(record[spec.name], dtype, `instances[${i}].${spec.name}`, item);
    });
    inputs[spec.name] = stackRows(rows, 'instances');
  }
  return inputs;
}

function columnarInputs(value: unknown, signature: ModelSignature): NamedTensors {
  if (!isNamedMap(value)) {
    const spec = singleInput(signature, 'inputs');
    return { [spec.name]: tensorFromJson(value, inputDType(spec, 'inputs'), 'inputs', spec.shape) };
  }
  checkNames(value, signature, 'inputs');
  return Object.fromEntries(
    signature.inputs.map((spec) => [
      spec.name,
      tensorFromJson(value[spec.name], inputDType(spec, `inputs.${spec.name}`), `inputs.${spec.name}`, spec.shape),
    ]),
  );
}

interface PredictRequest {
  format: 'row' | 'columnar';
  build: (signature: ModelSignature) => NamedTensors;
}

export function parsePredict(body: unknown): PredictRequest {
  if (!isNamedMap(body)) throw Errors.invalidArgument('body', 'must be a JSON object with "instances" or "inputs"');
  for (const key of Object.keys(body)) {
    if (!['signature_name', 'instances', 'inputs'].includes(key))
      throw Errors.invalidArgument(key, 'is not a predict request key (signature_name, instances, inputs)');
  }
  const signatureName = body.signature_name;
  if (signatureName !== undefined && signatureName !== 'serving_default' && signatureName !== '') {
    throw Errors.invalidArgument(
      'signature_name',
      `must be serving_default (the one signature a TF.js model has), got ${JSON.stringify(signatureName)}`,
    );
  }
  const hasInstances = Object.hasOwn(body, 'instances');
  if (hasInstances === Object.hasOwn(body, 'inputs'))
    throw Errors.invalidArgument(
      'instances',
      'exactly one of "instances" (row format) and "inputs" (columnar format) is required',
    );
  if (hasInstances) {
    const instances = body.instances;
    if (!Array.isArray(instances)) throw Errors.invalidArgument('instances', 'must be a list');
    return { format: 'row', build: (signature) => rowInputs(instances, signature) };
  }
  return { format: 'columnar', build: (signature) => columnarInputs(body.inputs, signature) };
}

export function predictAnswer(format: PredictRequest['format'], outputs: NamedTensors, signature: ModelSignature) {
  const names = signature.outputs.map((s) => s.name).filter((n) => Object.hasOwn(outputs, n));
  if (format === 'columnar') {
    if (names.length === 1) return { outputs: columnOf(outputs[names[0]], names[0]) };
    return { outputs: Object.fromEntries(names.map((n) => [n, columnOf(outputs[n], n)])) };
  }
  const columns = names.map((n) => rowsOf(outputs[n], n));
  const batch = columns[0]?.length ?? 0;
  if (columns.some((c) => c.length !== batch))
    throw Errors.invalidArgument(
      'instances',
      'the model answered outputs of different batch sizes; use the columnar format',
    );
  if (names.length === 1) return { predictions: columns[0] };
  return {
    predictions: Array.from({ length: batch }, (_, i) => Object.fromEntries(names.map((n, k) => [n, columns[k][i]]))),
  };
}

export function registerTfServing(app: FastifyInstance, ctx: HttpContext): void {
  app.get('/v1/models/*', async (request: FastifyRequest<{ Params: { '*': string } }>) => {
    const path = parsePath(request.params['*'], 'GET', request.url);
    if (path.action === undefined) return status(ctx, path.name, path.version);
    if (path.action !== 'metadata') throw Errors.notFound('route', `GET ${request.url}`);
    const served = ctx.models.route(path.name, path.version);
    return metadata(path.name, served.version, served.signature);
  });

  app.post(
    '/v1/models/*',
    inferRoute,
    async (request: FastifyRequest<{ Params: { '*': string } }>, reply: FastifyReply) => {
      const path = parsePath(request.params['*'], 'POST', request.url);
      if (path.action !== 'predict') {
        throw Errors.notFound(
          'route',
          `POST ${request.url} (only :predict is served; classify and regress need TF Example signatures)`,
        );
      }
      if (request.body instanceof MsgpackBody)
        return msgpackInfer(ctx, request, reply, request.body, path.name, path.version);
      let signature: ModelSignature | undefined;
      return tracked(ctx, path.name, async () => {
        ctx.models.route(path.name, path.version); // an unknown model is NOT_FOUND whatever the body
        const predict = parsePredict(request.body);
        const { outputs } = await inferForRequest(ctx, request, reply, {
          model: path.name,
          version: path.version,
          inputs: (served) => predict.build((signature = served.signature)),
        });
        return predictAnswer(predict.format, outputs, signature!);
      });
    },
  );
}
