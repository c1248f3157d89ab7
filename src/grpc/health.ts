/**
 * grpc.health.v1.Health, what Kubernetes `grpc:` probes, grpc_health_probe and load balancers ask. A service
 * name is
 *   1. "" or the full name of a service served here: SERVING while the server is ready (every port listens,
 *      every model has a version, no shutdown has begun), NOT_SERVING otherwise;
 *   2. a model's name: SERVING while that model is ready;
 *   3. anything else: Check answers NOT_FOUND; Watch sends SERVICE_UNKNOWN and keeps watching (the name may
 *      come to exist), as the health protocol says.
 * Watch sends the status now and then each change. Readiness has no events of its own, so watchers are
 * checked when the front says readiness may have changed (it listens, it starts to close) and every
 * kRecheckMs while any exist; a shutdown ends every watch, so that none holds the drain open.
 */
import type { ServerWritableStream, UntypedServiceImplementation } from '@grpc/grpc-js';
import { modelReady, serverReady } from '../http/kserve.js';
import { Errors } from '../protocol/errors.js';
import { unary, type GrpcContext } from './call.js';
import { kServiceNames, MalformedMessage } from './protos.js';
import { describeFailure, serviceError } from './status.js';

type ServingStatus = 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN';

/** How often watched statuses are read again, ms. */
const kRecheckMs = 1000;

const servedServices = new Set<string>(['', ...Object.values(kServiceNames)]);

export class HealthService {
  readonly #ctx: GrpcContext;
  readonly #watchers = new Map<
    ServerWritableStream<{ service: string }, { status: ServingStatus }>,
    ServingStatus | null
  >();
  #timer: NodeJS.Timeout | null = null;
  #ended = false;

  constructor(ctx: GrpcContext) {
    this.#ctx = ctx;
  }

  statusOf(service: string): ServingStatus {
    if (servedServices.has(service)) return serverReady(this.#ctx) ? 'SERVING' : 'NOT_SERVING';
    if (this.#ctx.models.has(service)) return modelReady(this.#ctx, service) ? 'SERVING' : 'NOT_SERVING';
    return 'SERVICE_UNKNOWN';
  }

  implementation(): UntypedServiceImplementation {
    return {
      Check: unary(
        this.#ctx,
        'Check',
        (request: { service: string }) => {
          const status = this.statusOf(request.service);
          if (status === 'SERVICE_UNKNOWN') throw Errors.notFound('service', request.service);
          return { status };
        },
        { whileClosing: true },
      ),
      Watch: (call: ServerWritableStream<{ service: string }, { status: ServingStatus }>) => this.#watch(call),
    };
  }

  /** Sends each watcher its status if it changed. */
  update(): void {
    for (const [call, last] of this.#watchers) {
      const status = this.statusOf(call.request.service);
      if (status !== last) {
        this.#watchers.set(call, status);
        call.write({ status });
      }
    }
  }

  /** Sends the last statuses and ends every watch; later ones end at once. */
  end(): void {
    this.update();
    this.#ended = true;
    for (const call of this.#watchers.keys()) call.end();
    this.#watchers.clear();
    this.#schedule();
  }

  #watch(call: ServerWritableStream<{ service: string }, { status: ServingStatus }>): void {
    if (call.request instanceof MalformedMessage) {
      const error = Errors.invalidArgument('request', `is not a valid message for Watch (${call.request.why})`);
      call.emit(
        'error',
        serviceError(
          this.#ctx.protos,
          describeFailure(error, { closing: this.#ctx.closing(), redact: (text) => text }),
        ),
      );
      return;
    }
    this.#watchers.set(call, null);
    call.once('cancelled', () => {
      this.#watchers.delete(call);
      this.#schedule();
    });
    this.update();
    if (this.#ended) {
      this.#watchers.delete(call);
      call.end();
    }
    this.#schedule();
  }

  #schedule(): void {
    if (this.#watchers.size > 0 && this.#timer === null) {
      this.#timer = setInterval(() => this.update(), kRecheckMs).unref();
    } else if (this.#watchers.size === 0 && this.#timer !== null) {
      clearInterval(this.#timer);
      this.#timer = null;
    }
  }
}
