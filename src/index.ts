/**
 * The package's public API, and nothing else: the embedding API, the HTTP front, the RPC client for other
 * worker threads, the wire codec, the errors, and the arbiter primitives the README documents. Everything
 * else is internal; the bench and the tests reach it through their own import paths.
 */
export {
  createServer,
  type Server,
  type InferOptions,
  type ServerStats,
  type ServerSessionStats,
  type AdmissionMode,
  type DeadlineCounts,
  type DeadlineOutcome,
  type OutcomeListener,
} from './server/server.js';
export type { ServerOptions, SessionConfig, DeviceRequest } from './server/config.js';
export type { InferInputs } from './server/inputs.js';
export type { Budget } from './server/budget.js';
export { startHttpServer, type HttpServer, type HttpServerOptions, type HttpModelConfig } from './http/index.js';
export { connectClient, type OlympianClient, type RemoteInferOptions } from './protocol/client.js';
export {
  encodeMessage,
  decodeMessage,
  type WireMessage,
  type InferRequestMessage,
  type InferResultMessage,
  type ErrorMessage,
} from './protocol/codec.js';
export type { NamedTensors, WireTensor, WireDType, TensorData } from './protocol/tensors.js';
export type { ModelSource, BackendRequest, GateMode, ModelSignature, TensorSpec } from './protocol/session-messages.js';
export { ErrorCode, OlympianError, isOlympianError, type SerializedError } from './protocol/errors.js';
export { DeviceArbiter, type ArbiterOptions, type SlotOptions } from './arbiter/arbiter.js';
export type { ArbiterStats, SessionTokenStats } from './arbiter/stats.js';
export { holdIntervals, type HoldInterval, type TraceRecord } from './arbiter/trace.js';
export { TokenClient, type TokenGrant } from './arbiter/token-client.js';
export { KernelGate } from './arbiter/kernel-gate.js';
export type { PolicyName } from './arbiter/layout.js';
export { policyNames } from './arbiter/policies/index.js';
