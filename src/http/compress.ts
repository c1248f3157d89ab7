/**
 * Compressed answers for clients that ask (`Accept-Encoding: gzip` or `deflate`, as Triton's HTTP client
 * does): gzip is preferred on a tie, q-values are honoured (`gzip;q=0` refuses it, `*` stands for any
 * coding not named), and answers under kMinBytes go as they are. The compression runs on libuv's thread
 * pool, not the event loop.
 */
import { promisify } from 'node:util';
import { deflate, gzip } from 'node:zlib';
import type { FastifyInstance } from 'fastify';

/** Below this, the gzip header and the work cost more than they save. */
const kMinBytes = 1024;

const compressors = new Map([
  ['gzip', promisify(gzip)],
  ['deflate', promisify(deflate)],
]);

/** The coding to answer in, or null for none. */
export function negotiateCoding(header: string | string[] | undefined): 'gzip' | 'deflate' | null {
  if (header === undefined) return null;
  const weights = new Map<string, number>();
  for (const part of String(header).split(',')) {
    const [name, ...params] = part.split(';').map((p) => p.trim().toLowerCase());
    if (!name) continue;
    const q = params.find((p) => p.startsWith('q='));
    const weight = q === undefined ? 1 : Number(q.slice(2));
    weights.set(name === 'x-gzip' ? 'gzip' : name, Number.isFinite(weight) ? weight : 0);
  }
  const weightOf = (coding: string) => weights.get(coding) ?? weights.get('*') ?? 0;
  const [gzipQ, deflateQ] = [weightOf('gzip'), weightOf('deflate')];
  if (gzipQ > 0 && gzipQ >= deflateQ) return 'gzip';
  return deflateQ > 0 ? 'deflate' : null;
}

export function registerCompression(app: FastifyInstance): void {
  app.addHook('onSend', async (request, reply, payload) => {
    if (request.method === 'HEAD' || reply.hasHeader('content-encoding')) return payload;
    const bytes = typeof payload === 'string' ? Buffer.from(payload) : Buffer.isBuffer(payload) ? payload : null;
    if (bytes === null || bytes.byteLength < kMinBytes) return payload;
    reply.header('vary', 'accept-encoding');
    const coding = negotiateCoding(request.headers['accept-encoding']);
    if (coding === null) return payload;
    reply.header('content-encoding', coding);
    return compressors.get(coding)!(bytes);
  });
}
