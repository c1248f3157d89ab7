/**
 * KServe's request `parameters` that olympian reads, in the meaning Triton gives them (what its clients send:
 * tritonclient.grpc puts `priority` in uint64_param and `timeout` in int64_param):
 *   1. `priority`: a level, 1 the highest and each larger number lower; 0 or absent, the model's default.
 *      Triton handles requests without a level at the model's default level, which its users set to the
 *      lowest so that a level means "ahead of the rest". olympian's request priority is the other way up
 *      (higher first, default 0), so level L becomes priority 2^30 − L: every request sent with a level goes
 *      ahead of those sent without one, level 1 first. `x-olympian-priority` metadata, when sent, wins.
 *   2. `timeout`: microseconds the request may wait for the model to start; 0 or absent, no limit. It becomes
 *      the request's deadline, or shortens the call's own.
 * Other parameters are accepted and ignored, as Triton leaves unknown ones to the backend.
 */
import { kMaxPriority } from '../http/infer.js';
import { Errors } from '../protocol/errors.js';

export interface InferParameter {
  parameter_choice?: string;
  bool_param: boolean;
  int64_param: number;
  string_param: string;
  double_param: number;
  uint64_param: number;
}

/** Levels past this would push priorities below −2^30, the floor `x-olympian-priority` has too. */
const kMaxLevel = 2 * kMaxPriority;

function integerParameter(parameters: Record<string, InferParameter>, key: string, max: number): number | undefined {
  if (!Object.hasOwn(parameters, key)) return undefined;
  const parameter = parameters[key];
  const field = `parameters.${key}`;
  const choice = parameter?.parameter_choice;
  if (choice !== 'int64_param' && choice !== 'uint64_param')
    throw Errors.invalidArgument(field, `must be an int64_param or uint64_param, got ${choice ?? 'no value'}`);
  const value = parameter[choice];
  if (!Number.isSafeInteger(value) || value < 0 || value > max)
    throw Errors.invalidArgument(field, `must be an integer from 0 to ${max}, got ${value}`);
  return value;
}

/** The priority and deadline a request's parameters ask for (rules 1 and 2). */
export function requestOptions(parameters: Record<string, InferParameter>): { priority?: number; deadlineMs?: number } {
  const out: { priority?: number; deadlineMs?: number } = {};
  const level = integerParameter(parameters, 'priority', kMaxLevel);
  if (level) out.priority = kMaxPriority - level;
  const timeoutUs = integerParameter(parameters, 'timeout', Number.MAX_SAFE_INTEGER);
  if (timeoutUs) out.deadlineMs = timeoutUs / 1000;
  return out;
}
