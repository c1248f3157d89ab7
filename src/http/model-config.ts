/**
 * What the HTTP front is told about each model it serves, and the rule for public model names. Apart from
 * the registry because the config file, the path redactor and the tests read these without loading anything.
 */
import type { ModelSource } from '../protocol/session-messages.js';
import type { WarmupInputs } from '../protocol/warmup-inputs.js';
import type { Budget } from '../server/budget.js';

export interface HttpModelConfig {
  /** The public name: 1–48 letters, digits, "_" or "-". */
  name: string;
  /** TF-Serving's model base path: numbered version subdirectories, each holding a model.json or model.onnx. */
  basePath?: string;
  /** Or one fixed model (a path, URL, zoo or module source), served as version 1. */
  model?: ModelSource;
  weight?: number;
  priority?: number;
  /** Session threads serving the model, on one account (see SessionConfig.instances). */
  instances?: number;
  maxQueue?: number;
  maxBatch?: number;
  batchWindowUs?: number;
  /** ONNX models (see SessionConfig): onnxruntime's providers, intra-op threads, segment target. */
  executionProviders?: string[];
  intraOpThreads?: number;
  segmentMs?: number;
  /** A real batch-of-one input's free dimensions and value, for models that refuse warm-up on 1s and 0s. */
  warmupInputs?: WarmupInputs;
  /** A device-time budget for the model (every version it serves gets it; a new version starts full). */
  budget?: Budget;
  /** Deadline of the model's requests that carry none, ms (see SessionConfig.deadlineMs). */
  deadlineMs?: number;
}

/** Public names have no dots, so an internal session name (`<model>.v<version>.<n>`) never collides with one. */
export const modelNamePattern = /^[A-Za-z0-9_-]{1,48}$/;
