/**
 * KServe v2 / Open Inference Protocol over REST
 * (https://kserve.github.io/website/docs/concepts/architecture/data-plane/v2-protocol):
 *   GET  /v2                                          server metadata
 *   GET  /v2/health/live | /v2/health/ready
 *   GET  /v2/models/{name}[/versions/{v}]             model metadata
 *   GET  /v2/models/{name}[/versions/{v}]/ready
 *   POST /v2/models/{name}[/versions/{v}]/infer       JSON tensors, or the binary tensor data extension
 * Health and readiness answer 200 when true and 503 when false (what a Kubernetes probe reads).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Errors } from '../protocol/errors.js';
import type { ModelSignature } from '../protocol/signature.js';
import type { NamedTensors } from '../protocol/tensors.js';
import { inferRoute } from './body.js';
import { inferForRequest, tracked, type HttpContext } from './infer.js';
import { reshape, tensorFromJson, toFlat } from './json-tensors.js';
import { binaryAnswer, BinaryBody, decodeBinaryTensor, kInferenceHeaderLength, tensorBytes } from './kserve-binary.js';
import { MsgpackBody, msgpackInfer } from './msgpack.js';
import { specShape, v2DType, wireFromV2 } from './signature.js';

export const serverName = 'olympian';
export const serverVersion = '0.1.0';

type ModelParams = { name: string; version?: string };

interface V2Request {
  id?: string;
  /** By name, on a null-prototype object: the names are the client's. */
  inputs: NamedTensors;
  /** The names in the order given, to name `inputs[i]` in an error. */
  inputNames: string[];
  /** Output names asked for (all when absent), and which of them go back as binary. */
  outputs?: string[];
  binary: Set<string>;
  binaryAll: boolean;
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function parseShape(value: unknown, field: string): number[] {
  if (!Array.isArray(value) || !value.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw Errors.invalidArgument(field, 'must be a list of non-negative integers');
  }
  return value as number[];
}

export function parseV2Request(raw: unknown): V2Request {
  const binaryBody = raw instanceof BinaryBody ? raw : null;
  const body = binaryBody ? binaryBody.header : raw;
  if (!isObject(body)) throw Errors.invalidArgument('body', 'must be a JSON object with "inputs"');
  if (body.id !== undefined && typeof body.id !== 'string') throw Errors.invalidArgument('id', 'must be a string');
  if (!Array.isArray(body.inputs) || body.inputs.length === 0)
    throw Errors.invalidArgument('inputs', 'must be a non-empty list');
  let offset = 0;
  const inputs: NamedTensors = Object.create(null);
  const inputNames: string[] = [];
  body.inputs.forEach((input: unknown, i) => {
    const field = `inputs[${i}]`;
    if (!isObject(input) || typeof input.name !== 'string')
      throw Errors.invalidArgument(`${field}.name`, 'must be a string');
    if (Object.hasOwn(inputs, input.name))
      throw Errors.invalidArgument(`${field}.name`, `duplicates ${JSON.stringify(input.name)}`);
    inputNames.push(input.name);
    const shape = parseShape(input.shape, `${field}.shape`);
    const dtype = wireFromV2(input.datatype, `${field}.datatype`);
    const size = isObject(input.parameters) ? input.parameters.binary_data_size : undefined;
    if (size !== undefined) {
      if (!binaryBody)
        throw Errors.invalidArgument(
          `${field}.parameters.binary_data_size`,
          `needs a binary body (the ${kInferenceHeaderLength} header)`,
        );
      if (
        !Number.isSafeInteger(size) ||
        (size as number) < 0 ||
        offset + (size as number) > binaryBody.binary.byteLength
      ) {
        throw Errors.invalidArgument(
          `${field}.parameters.binary_data_size`,
          `must be a byte count within the ${binaryBody.binary.byteLength} bytes after the header`,
        );
      }
      const bytes = binaryBody.binary.subarray(offset, offset + (size as number));
      offset += size as number;
      inputs[input.name] = decodeBinaryTensor(bytes, input.datatype as string, dtype, shape, field);
      return;
    }
    if (!Array.isArray(input.data))
      throw Errors.invalidArgument(`${field}.data`, 'must be a list (flat or nested, row-major)');
    inputs[input.name] = reshape(tensorFromJson(input.data, dtype, `${field}.data`), shape, `${field}.data`);
  });
  if (binaryBody && offset !== binaryBody.binary.byteLength) {
    throw Errors.invalidArgument(
      'body',
      `has ${binaryBody.binary.byteLength - offset} bytes after the last binary input`,
    );
  }
  const binaryAll = isObject(body.parameters) && body.parameters.binary_data_output === true;
  const binary = new Set<string>();
  let outputs: string[] | undefined;
  if (body.outputs !== undefined) {
    if (!Array.isArray(body.outputs)) throw Errors.invalidArgument('outputs', 'must be a list of { name }');
    outputs = body.outputs.map((output: unknown, i) => {
      if (!isObject(output) || typeof output.name !== 'string')
        throw Errors.invalidArgument(`outputs[${i}].name`, 'must be a string');
      if (isObject(output.parameters) && output.parameters.binary_data === true) binary.add(output.name);
      return output.name;
    });
  }
  return { id: body.id as string | undefined, inputs, inputNames, outputs, binary, binaryAll };
}

/** A model's v2 metadata, the same over REST and gRPC. */
export function modelMetadata(ctx: HttpContext, name: string, version?: string) {
  const served = ctx.models.route(name, version);
  const spec = (list: ModelSignature['inputs']) =>
    list.map((s) => ({ name: s.name, datatype: v2DType(s.dtype), shape: specShape(s) }));
  return {
    name,
    versions: ctx.models
      .status(name)
      .filter((row) => row.state === 'AVAILABLE')
      .map((row) => row.version),
    // Triton's names for the two engines' model formats.
    platform:
      ctx.server.sessionInfo(served.session).backend.name === 'onnxruntime' ? 'onnxruntime_onnx' : 'tensorflowjs',
    inputs: spec(served.signature.inputs),
    outputs: spec(served.signature.outputs),
  };
}

/** Whether a model (a version of it) serves now; NOT_FOUND for a model, or a version, never heard of. */
export function modelReady(ctx: HttpContext, name: string, version?: string): boolean {
  const served = ctx.models.served(name);
  if (
    version !== undefined &&
    served?.version !== version &&
    !ctx.models.status(name).some((r) => r.version === version)
  ) {
    throw Errors.notFound('version', `${name}/versions/${version}`);
  }
  return ctx.serving() && served !== null && (version === undefined || served.version === version);
}

/** Whether the whole server serves: every port listens, every model has a version, no close has begun. */
export const serverReady = (ctx: HttpContext): boolean =>
  ctx.serving() && ctx.models.names.every((name) => ctx.models.served(name) !== null);

/** Every name given must be one of the model's (`inputs[i].name` / `outputs[i].name` at fault). */
function checkNames(
  names: string[],
  specs: ModelSignature['inputs'],
  list: 'inputs' | 'outputs',
  what: 'input' | 'output',
): void {
  const known = new Set(specs.map((s) => s.name));
  names.forEach((name, i) => {
    if (!known.has(name))
      throw Errors.invalidArgument(
        `${list}[${i}].name`,
        `${JSON.stringify(name)} is not an ${what} of this model (${list}: ${[...known].join(', ')})`,
      );
  });
}

async function infer(ctx: HttpContext, request: FastifyRequest<{ Params: ModelParams }>, reply: FastifyReply) {
  const { name, version } = request.params;
  if (request.body instanceof MsgpackBody) return msgpackInfer(ctx, request, reply, request.body, name, version);
  return tracked(ctx, name, async () => {
    ctx.models.route(name, version); // an unknown model is NOT_FOUND whatever the body
    const parsed = parseV2Request(request.body);
    let signature: ModelSignature | undefined;
    const result = await inferForRequest(ctx, request, reply, {
      model: name,
      version,
      inputs: (served) => {
        signature = served.signature;
        checkNames(parsed.inputNames, signature.inputs, 'inputs', 'input');
        checkNames(parsed.outputs ?? [], signature.outputs, 'outputs', 'output');
        return parsed.inputs;
      },
    });
    const names =
      parsed.outputs ?? signature!.outputs.map((s) => s.name).filter((n) => Object.hasOwn(result.outputs, n));
    const blobs: Buffer[] = [];
    const outputs = names.map((outputName) => {
      const tensor = result.outputs[outputName];
      const entry = { name: outputName, datatype: v2DType(tensor.dtype), shape: tensor.shape };
      if (!parsed.binaryAll && !parsed.binary.has(outputName))
        return { ...entry, data: toFlat(tensor, `outputs.${outputName}`) };
      const bytes = tensorBytes(tensor);
      blobs.push(bytes);
      return { ...entry, parameters: { binary_data_size: bytes.byteLength } };
    });
    const header = {
      model_name: name,
      model_version: result.version,
      ...(parsed.id === undefined ? {} : { id: parsed.id }),
      outputs,
    };
    if (blobs.length === 0) return header;
    const { body, headerLength } = binaryAnswer(header, blobs);
    return reply.type('application/octet-stream').header('Inference-Header-Content-Length', headerLength).send(body);
  });
}

export function registerKServe(app: FastifyInstance, ctx: HttpContext): void {
  app.get('/v2', async () => ({ name: serverName, version: serverVersion, extensions: ['binary_tensor_data'] }));
  app.get('/v2/health/live', async () => ({ live: true }));
  app.get('/v2/health/ready', async (_request, reply) => {
    const ready = serverReady(ctx);
    return reply.code(ready ? 200 : 503).send({ ready });
  });
  for (const prefix of ['/v2/models/:name', '/v2/models/:name/versions/:version']) {
    app.get(prefix, async (request: FastifyRequest<{ Params: ModelParams }>) =>
      modelMetadata(ctx, request.params.name, request.params.version),
    );
    app.get(`${prefix}/ready`, async (request: FastifyRequest<{ Params: ModelParams }>, reply) => {
      const ready = modelReady(ctx, request.params.name, request.params.version);
      return reply.code(ready ? 200 : 503).send({ name: request.params.name, ready });
    });
    app.post(`${prefix}/infer`, inferRoute, (request: FastifyRequest<{ Params: ModelParams }>, reply) =>
      infer(ctx, request, reply),
    );
  }
}
