/**
 * Request bodies before any route sees them: which kind a body is, its size limit, its content coding, and
 * its parser. The rules:
 *   1. A body is binary (limits.bodyBytes) when it is msgpack, or KServe's binary tensor extension (the
 *      Inference-Header-Content-Length header); anything else is JSON (limits.jsonBodyBytes), because JSON
 *      is parsed on the event loop, where every other request waits behind it.
 *   2. gzip and deflate bodies are decoded as they arrive, and the limit applies to the decoded bytes, so a
 *      small compressed body cannot expand past it; another coding is 415, a corrupt one 400.
 *   3. On the inference routes a missing or generic Content-Type (none, `*\/*`, `text/plain`,
 *      `application/octet-stream`) is read as JSON, or as the binary extension when its header is there:
 *      Triton's HTTP client sends no Content-Type at all. Elsewhere an unknown type is 415.
 *   4. JSON is parsed by JSON.parse alone: keys such as "__proto__" become plain own properties, and every
 *      lookup by a client-given name is made on a Map or with Object.hasOwn (see json-tensors.ts, kserve.ts,
 *      tfserving.ts).
 */
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { createGunzip, createInflate } from 'node:zlib';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Errors } from '../protocol/errors.js';
import { kInferenceHeaderLength, splitBinaryBody } from './kserve-binary.js';
import type { HttpLimits } from './limits.js';
import { msgpackTypes, registerMsgpack } from './msgpack.js';

/** Route options that mark an inference route (rule 3). */
export const inferRoute = { config: { infer: true } } as const;

const isInferRoute = (request: FastifyRequest) => (request.routeOptions.config as { infer?: boolean }).infer === true;

export const mediaType = (header: string | string[] | undefined) =>
  String(header ?? '')
    .split(';')[0]
    .trim()
    .toLowerCase();

const jsonType = 'application/json';
const octetStream = 'application/octet-stream';
/** Types an inference route reads as JSON or binary by the headers alone (rule 3). */
const genericTypes = new Set(['', '*/*', 'text/plain', octetStream]);

const decoders = new Map([
  ['gzip', createGunzip],
  ['x-gzip', createGunzip],
  ['deflate', createInflate],
]);

export type BodyKind = 'json' | 'binary';

export function bodyKind(request: FastifyRequest): BodyKind {
  if (request.headers[kInferenceHeaderLength] !== undefined) return 'binary';
  return msgpackTypes.includes(mediaType(request.headers['content-type'])) ? 'binary' : 'json';
}

function tooLarge(kind: BodyKind, bytes: string, limits: HttpLimits) {
  if (kind === 'binary')
    return Errors.tooLarge('body', `is ${bytes} bytes, over limits.bodyBytes (${limits.bodyBytes})`);
  return Errors.tooLarge(
    'body',
    `is ${bytes} bytes of JSON, over limits.jsonBodyBytes (${limits.jsonBodyBytes}): send big tensors as binary, with KServe's binary tensor extension ` +
      `(the Inference-Header-Content-Length header) or as msgpack (Content-Type: application/msgpack), which take up to limits.bodyBytes (${limits.bodyBytes})`,
  );
}

/** The one content coding of the body, or null for none (rule 2). */
function contentCoding(request: FastifyRequest): string | null {
  const header = request.headers['content-encoding'];
  if (header === undefined) return null;
  const codings = String(header)
    .split(',')
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c !== '' && c !== 'identity');
  if (codings.length === 0) return null;
  if (codings.length > 1 || !decoders.has(codings[0])) {
    throw Errors.invalidArgument(
      'content-encoding',
      `must be gzip, deflate or identity, got ${JSON.stringify(String(header))}`,
    );
  }
  return codings[0];
}

/** Passes bytes through while counting them; past `limit` it fails with TOO_LARGE. */
class Limit extends Transform {
  #bytes = 0;
  /** What fastify compares with Content-Length when the body was compressed. */
  receivedEncodedLength = 0;

  constructor(
    readonly limit: number,
    readonly tooLarge: () => Error,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#bytes += chunk.byteLength;
    if (this.#bytes > this.limit) callback(this.tooLarge());
    else callback(null, chunk);
  }
}

/** The body stream the parsers read: decoded (rule 2) and held to its kind's limit (rule 1). */
function limitedBody(request: FastifyRequest, payload: Readable, limits: HttpLimits): Readable {
  const headers = request.headers;
  const hasBody =
    headers['transfer-encoding'] !== undefined ||
    (headers['content-length'] !== undefined && headers['content-length'] !== '0');
  if (!hasBody) return payload;
  const type = mediaType(headers['content-type']);
  if (
    !(
      type === jsonType ||
      type === octetStream ||
      msgpackTypes.includes(type) ||
      (isInferRoute(request) && genericTypes.has(type))
    )
  ) {
    throw Errors.invalidArgument(
      'content-type',
      `must be ${jsonType}, ${msgpackTypes[0]}, or ${octetStream} with ${kInferenceHeaderLength}; got ${JSON.stringify(type)}`,
    );
  }
  const coding = contentCoding(request);
  const kind = bodyKind(request);
  const limit = kind === 'json' ? limits.jsonBodyBytes : limits.bodyBytes;
  const declared = Number(headers['content-length']);
  if (coding === null && declared > limit) throw tooLarge(kind, String(declared), limits);
  // fastify reads exactly Content-Length bytes or fails, so a declared length within the limit needs no count.
  if (coding === null && Number.isFinite(declared)) return payload;
  const limited = new Limit(limit, () => tooLarge(kind, `more than ${limit}`, limits));
  payload.on('error', (error) => limited.destroy(error));
  if (coding === null) return payload.pipe(limited);
  const decoder = decoders.get(coding)!();
  payload.on('data', (chunk: Buffer) => (limited.receivedEncodedLength += chunk.byteLength));
  decoder.on('error', (error) =>
    limited.destroy(Errors.invalidArgument('body', `is not valid ${coding} data (${error.message})`)),
  );
  // A body past its limit stops the decoding at once: the rest is never inflated.
  limited.on('close', () => decoder.destroy());
  return payload.pipe(decoder).pipe(limited);
}

/** An inference body as JSON, or as the binary extension's JSON header and bytes. */
function parseBody(request: FastifyRequest, body: Buffer, limits: HttpLimits): unknown {
  const headerLength = request.headers[kInferenceHeaderLength];
  if (headerLength !== undefined) return splitBinaryBody(body, String(headerLength), limits.jsonBodyBytes);
  if (mediaType(request.headers['content-type']) === octetStream) {
    throw Errors.invalidArgument(
      kInferenceHeaderLength,
      `is required with an ${octetStream} body (the binary tensor extension)`,
    );
  }
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw Errors.invalidArgument('body', `is not valid JSON (${(error as Error).message})`);
  }
}

export function registerBodies(app: FastifyInstance, limits: HttpLimits): void {
  app.addHook('preParsing', async (request: FastifyRequest, reply: FastifyReply, payload: Readable) => {
    try {
      return limitedBody(request, payload, limits);
    } catch (error) {
      // The body is refused unread: closing spares reading (and discarding) the rest of it.
      reply.header('connection', 'close');
      throw error;
    }
  });
  const parse = (request: FastifyRequest, body: Buffer, done: (error: Error | null, value?: unknown) => void) => {
    try {
      done(null, parseBody(request, body, limits));
    } catch (error) {
      done(error as Error);
    }
  };
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser([jsonType, octetStream], { parseAs: 'buffer' }, (request, body, done) =>
    parse(request, body as Buffer, done),
  );
  // Only the types rule 3 lets through get this far.
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (request, body, done) => parse(request, body as Buffer, done));
  registerMsgpack(app);
}
