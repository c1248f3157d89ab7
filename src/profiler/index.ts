/**
 * The offline profiler: record a model's kernels at a few batch sizes, fit cost = a + b·batch per kernel,
 * write `profiles/<device>/<model>.json`, and turn a profile into the per-kernel cost plan the kernel gate
 * charges. Knows nothing of the arbiter.
 */
export {
  runProfileCommand,
  parseBatchSizes,
  type ProfileCommandOptions,
  type ProfileCommandResult,
} from './command.js';
export {
  currentFingerprint,
  describeMismatch,
  fingerprintFromBackend,
  fingerprintId,
  isSynchronousBackend,
  makeFingerprint,
  type DeviceFingerprint,
  type FingerprintParts,
} from './fingerprint.js';
export {
  errorPct,
  fitByName,
  fitLine,
  fitPositions,
  predictMs,
  type FitFigures,
  type LinearFit,
  type NameAverage,
  type NamedCost,
} from './fit.js';
export {
  planCosts,
  predictTotalMs,
  quantumBoundaries,
  type CostMode,
  type CostPlan,
  type PlanOptions,
} from './plan.js';
export { buildProfile, type ProfileMeta } from './profile.js';
export { GpuKernelTimer } from '../device/gpu-timer.js';
export {
  medianCostsMs,
  recordModel,
  runsAgree,
  type BatchRecording,
  type RecordedRun,
  type RecordOptions,
} from './record.js';
export {
  formatProfile,
  kMeasures,
  kProfileSchemaVersion,
  parseProfile,
  profilePath,
  readProfile,
  validateProfile,
  writeProfile,
  type BatchProfile,
  type KernelProfile,
  type Profile,
  type ProfileMethod,
  type StoredProfile,
} from './schema.js';
export {
  instantiate,
  launchFromParams,
  launchKey,
  matchTemplates,
  sameNames,
  sequenceHash,
  SequenceRecorder,
  shapeTemplate,
  type KernelLaunch,
  type SequenceMismatch,
} from './sequence.js';
export { locateProfile, profileModelId } from './store.js';
export type { KernelParams } from '../device/kernel-hook.js';
