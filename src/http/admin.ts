/**
 * Run-time control, behind a bearer token when one is configured (and one must be, to bind beyond
 * loopback — see validateHttpOptions); without one, only for requests addressed to a loopback name:
 *   GET   /admin/stats                 the server's stats and every model's versions
 *   PATCH /admin/models/{name}         { weight?, priority?, budget?: { deviceMsPerSec, burstMs } | null }
 *   PATCH /admin/arbiter               { policy?, quantumMs?, lagQuanta? }
 *   POST  /admin/poll                  scan the model base paths now
 * A change is checked whole before any of it applies, so a bad field changes nothing.
 */
import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Errors } from '../protocol/errors.js';
import {
  validateBudget,
  validateLagQuanta,
  validatePolicy,
  validatePriority,
  validateQuantum,
  validateWeight,
  type PolicyName,
} from '../server/index.js';
import { HttpError, HttpErrorCode } from './errors.js';
import type { HttpContext } from './infer.js';

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function checkKeys(body: unknown, allowed: string[]): Record<string, unknown> {
  if (!isObject(body)) throw Errors.invalidArgument('body', `must be a JSON object with ${allowed.join(' and/or ')}`);
  for (const key of Object.keys(body))
    if (!allowed.includes(key)) throw Errors.invalidArgument(key, `is not one of ${allowed.join(', ')}`);
  if (Object.keys(body).length === 0)
    throw Errors.invalidArgument('body', `must set at least one of ${allowed.join(', ')}`);
  return body;
}

function tokenMatches(header: string | undefined, token: string): boolean {
  const match = /^Bearer\s+(.+)$/i.exec(header ?? '');
  if (!match) return false;
  const given = Buffer.from(match[1].trim());
  const expected = Buffer.from(token);
  // Compare in constant time; lengths differ only for wrong tokens, and a token's length is no secret.
  return given.byteLength === expected.byteLength && timingSafeEqual(given, expected);
}

/** localhost, 127.x.x.x or [::1], with or without a port: the names only this machine's clients reach us by. */
const loopbackHost = /^(?:localhost|127(?:\.\d{1,3}){3}|\[::1\])(?::\d{1,5})?$/i;

export function registerAdmin(app: FastifyInstance, ctx: HttpContext, adminToken: string | undefined): void {
  app.register(async (admin) => {
    admin.addHook('onRequest', async (request: FastifyRequest) => {
      if (adminToken !== undefined) {
        if (!tokenMatches(request.headers.authorization, adminToken)) {
          throw new HttpError(
            HttpErrorCode.UNAUTHENTICATED,
            'admin routes need Authorization: Bearer <adminToken>',
            'authorization',
          );
        }
        return;
      }
      // Without a token, being on loopback is the only check, and a web page can pass it by DNS rebinding
      // (its own name, resolved to 127.0.0.1): the browser still sends that name as Host.
      if (!loopbackHost.test(request.headers.host ?? '')) {
        throw new HttpError(
          HttpErrorCode.PERMISSION_DENIED,
          'admin routes without an adminToken answer only requests addressed to localhost, 127.0.0.1 or [::1]',
          'host',
        );
      }
    });

    admin.get('/admin/stats', async () => ({
      ...ctx.server.stats(),
      models: ctx.models.names.map((name) => ({
        name,
        servedVersion: ctx.models.served(name)?.version ?? null,
        ...ctx.models.weights(name),
        budget: ctx.models.budget(name),
        versions: ctx.models.status(name),
        scanError: ctx.models.scanError(name) ?? null,
      })),
    }));

    admin.patch('/admin/models/:name', async (request: FastifyRequest<{ Params: { name: string } }>) => {
      const { name } = request.params;
      ctx.models.weights(name); // NOT_FOUND before a bad body is reported
      const body = checkKeys(request.body, ['weight', 'priority', 'budget']);
      // The arbiter's own rules, reported as the request's mistake rather than the configuration's.
      if (body.weight !== undefined) validateWeight(body.weight, 'weight', Errors.invalidArgument);
      if (body.priority !== undefined) validatePriority(body.priority, 'priority', Errors.invalidArgument);
      const budget =
        body.budget === undefined || body.budget === null
          ? body.budget
          : validateBudget(body.budget, 'budget', ctx.server.stats().tokens, Errors.invalidArgument);
      // First: the one change that can still be refused (a server without the arbiter takes no budget).
      if (budget !== undefined) ctx.models.setBudget(name, budget);
      if (body.weight !== undefined) ctx.models.setWeight(name, body.weight as number);
      if (body.priority !== undefined) ctx.models.setPriority(name, body.priority as number);
      request.log.info({ model: name, ...body }, 'admin: model changed');
      return { name, ...ctx.models.weights(name), budget: ctx.models.budget(name) };
    });

    admin.patch('/admin/arbiter', async (request) => {
      const body = checkKeys(request.body, ['policy', 'quantumMs', 'lagQuanta']);
      if (body.policy !== undefined) validatePolicy(body.policy, 'policy', Errors.invalidArgument);
      if (body.quantumMs !== undefined) validateQuantum(body.quantumMs, 'quantumMs', Errors.invalidArgument);
      if (body.lagQuanta !== undefined) validateLagQuanta(body.lagQuanta, 'lagQuanta', Errors.invalidArgument);
      if (body.policy !== undefined) ctx.server.setPolicy(body.policy as PolicyName);
      if (body.quantumMs !== undefined) ctx.server.setQuantum(body.quantumMs as number);
      if (body.lagQuanta !== undefined) ctx.server.setLagQuanta(body.lagQuanta as number);
      request.log.info(body, 'admin: arbiter changed');
      const stats = ctx.server.stats();
      return { policy: stats.policy, quantumMs: stats.quantumMs, lagQuanta: stats.lagQuanta };
    });

    admin.post('/admin/poll', async () => {
      await ctx.models.poll();
      return Object.fromEntries(ctx.models.names.map((name) => [name, ctx.models.status(name)]));
    });
  });
}
