/**
 * A session's own stats, written by its worker (one writer) into a small shared Float64Array and read by the
 * main thread at any time, so `stats()` never waits behind an inference.
 *
 * | field                 | meaning                                                        |
 * |-----------------------|----------------------------------------------------------------|
 * | kInferencesField      | units of work completed (inferences or batches)                |
 * | kKernelsField         | kernel launches through the gate                               |
 * | kLongestKernelMsField | the longest single kernel: the floor of the interleaving step  |
 * | kLastInferenceMsField | device-side duration of the last inference, ms                 |
 * | kLiveTensorsField     | tf.memory().numTensors after the last inference                |
 * | kHeapUsedMbField      | the worker isolate's used heap after the last inference, MiB   |
 * | kChargedMsField       | cost the gate charged, ms                                      |
 */
export const kInferencesField = 0;
export const kKernelsField = 1;
export const kLongestKernelMsField = 2;
export const kLastInferenceMsField = 3;
export const kLiveTensorsField = 4;
export const kHeapUsedMbField = 5;
export const kChargedMsField = 6;
export const kSessionStatsSize = 8;

export const newSessionStatsBuffer = () => new SharedArrayBuffer(kSessionStatsSize * 8);
