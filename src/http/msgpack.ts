/**
 * The binary path: `Content-Type: application/msgpack` on either protocol's inference route carries one
 * `infer` frame of the wire codec (tensors as typed arrays, no JSON numbers), and the answer is a `result`
 * or `error` frame in msgpack too, with the same HTTP status a JSON answer would have.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { decodeMessage, encodeMessage, type InferRequestMessage } from '../protocol/codec.js';
import { Errors, type SerializedError } from '../protocol/errors.js';
import type { ModelSignature } from '../protocol/signature.js';
import type { NamedTensors } from '../protocol/tensors.js';
import type { ErrorBody } from './errors.js';
import { inferForRequest, tracked, type HttpContext } from './infer.js';

export const msgpackTypes = ['application/msgpack', 'application/x-msgpack', 'application/vnd.msgpack'];

/** A decoded msgpack body, told apart from JSON bodies by its class. */
export class MsgpackBody {
  constructor(readonly message: InferRequestMessage) {}
}

export function registerMsgpack(app: FastifyInstance): void {
  app.addContentTypeParser(msgpackTypes, { parseAs: 'buffer' }, (_request, body, done) => {
    try {
      const message = decodeMessage(body as Buffer);
      if (message.type !== 'infer')
        throw Errors.invalidArgument('type', `must be infer in a request, got ${message.type}`);
      done(null, new MsgpackBody(message));
    } catch (error) {
      done(error as Error, undefined);
    }
  });
}

export const isMsgpackRequest = (request: FastifyRequest) =>
  msgpackTypes.includes(
    String(request.headers['content-type'] ?? '')
      .split(';')[0]
      .trim()
      .toLowerCase(),
  );

/** The frame's tensors on a null-prototype object, once every name (the client's) is one of the model's inputs. */
function knownInputs(inputs: NamedTensors, signature: ModelSignature): NamedTensors {
  const known = new Set(signature.inputs.map((s) => s.name));
  const out: NamedTensors = Object.create(null);
  for (const [name, tensor] of Object.entries(inputs)) {
    if (!known.has(name))
      throw Errors.invalidArgument(
        `inputs.${name}`,
        `is not an input of this model (inputs: ${[...known].join(', ')})`,
      );
    out[name] = tensor;
  }
  return out;
}

export async function msgpackInfer(
  ctx: HttpContext,
  request: FastifyRequest,
  reply: FastifyReply,
  body: MsgpackBody,
  model: string,
  version?: string,
) {
  const { message } = body;
  const { outputs } = await tracked(ctx, model, () => {
    if (message.model !== model)
      throw Errors.invalidArgument(
        'model',
        `is ${JSON.stringify(message.model)} in the frame but ${JSON.stringify(model)} in the URL`,
      );
    return inferForRequest(ctx, request, reply, {
      model,
      version,
      inputs: (served) => knownInputs(message.inputs, served.signature),
      deadlineMs: message.deadlineMs,
      priority: message.priority,
    });
  });
  const frame = encodeMessage(
    message.id === undefined ? { type: 'result', outputs } : { type: 'result', id: message.id, outputs },
  );
  return reply.type('application/msgpack').send(Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength));
}

/** An error answer as an `error` frame, for a client that spoke msgpack. */
export function msgpackError(request: FastifyRequest, body: ErrorBody): Buffer {
  const id = request.body instanceof MsgpackBody ? request.body.message.id : undefined;
  const error = {
    code: body.code,
    message: body.error,
    ...(body.field === undefined ? {} : { field: body.field }),
    requestId: body.requestId,
  };
  const frame = encodeMessage({
    type: 'error',
    ...(id === undefined ? {} : { id }),
    error: error as unknown as SerializedError,
  });
  return Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
}
