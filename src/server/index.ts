/**
 * The embedding API and the rules its configuration follows: what the HTTP front and the serve command
 * reach the server (and the arbiter's validation and policy names) through.
 */
export { createServer, Server, type InferOptions, type ServerStats, type ServerSessionStats } from './server.js';
export {
  resolveConfig,
  validateModelSource,
  validateSessionConfig,
  validateSessionOptions,
  type DeviceRequest,
  type ServerOptions,
  type SessionConfig,
} from './config.js';
export type { InferInputs } from './inputs.js';
export { validateBudget, type Budget } from './budget.js';
export {
  validateLagQuanta,
  validatePolicy,
  validatePriority,
  validateQuantum,
  validateWeight,
} from '../arbiter/validate.js';
export { policyNames } from '../arbiter/policies/index.js';
export type { PolicyName } from '../arbiter/layout.js';
