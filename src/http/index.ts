/** The HTTP front: TF-Serving REST and KServe v2 routes, admin, metrics, over the embedding API. */
export {
  startHttpServer,
  validateHttpOptions,
  isLoopback,
  type HttpServer,
  type HttpServerOptions,
} from './http-server.js';
export { ModelRegistry } from './registry.js';
export type { HttpModelConfig } from './model-config.js';
export type { VersionStatus, VersionState, ServedVersion } from './model-versions.js';
export { HttpMetrics } from './metrics.js';
export { defaultLimits, type HttpLimits } from './limits.js';
export { buildApp, type AppOptions, type LogStream } from './app.js';
export { errorResponse, statusOfCode, HttpError, HttpErrorCode, type ErrorBody, type AnyErrorCode } from './errors.js';
export { kPriorityHeader, kDeadlineHeader, kRequestIdHeader } from './infer.js';
