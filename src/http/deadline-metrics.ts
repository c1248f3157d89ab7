/**
 * Deadline outcomes per model, counted as they happen (the server calls back as each request with a
 * deadline ends): answered within it, answered late, shed on arrival, dropped while queued. The outcome
 * label is open: refusals of other kinds (a model over its budget) are further values on the same series.
 */
import { Counter, Histogram, type Registry } from 'prom-client';
import type { DeadlineOutcome, Server } from '../server/server.js';
import type { ModelRegistry } from './registry.js';

/** Seconds, both signs: answered before (−) or after (+) the time admission predicted. */
const errorBucketsS = [-1, -0.3, -0.1, -0.03, -0.01, -0.003, 0, 0.003, 0.01, 0.03, 0.1, 0.3, 1];

const outcomeLabels: Record<DeadlineOutcome, string> = {
  onTime: 'on_time',
  late: 'late',
  shed: 'shed',
  dropped: 'dropped',
};

export function countDeadlines(server: Server, models: ModelRegistry, registry: Registry): () => void {
  const outcomes = new Counter({
    name: 'olympian_deadline_requests_total',
    help: 'Requests with a deadline by model and outcome: on_time, late (answered after it), shed (refused on arrival, predicted late), dropped (queued, then could no longer be in time)',
    labelNames: ['model', 'outcome'],
    registers: [registry],
  });
  const predictionError = new Histogram({
    name: 'olympian_admission_prediction_error_seconds',
    help: 'Answered requests with a deadline: answer time minus the time admission predicted, seconds',
    labelNames: ['model'],
    buckets: errorBucketsS,
    registers: [registry],
  });
  return server.onDeadlineOutcome((session, outcome, errorMs) => {
    const model = models.modelOf(session);
    if (!models.has(model)) return;
    outcomes.inc({ model, outcome: outcomeLabels[outcome] });
    if (errorMs !== undefined) predictionError.observe({ model }, errorMs / 1000);
  });
}
