import { PolicyId, type PolicyName } from '../layout.js';
import { deadline } from './deadline.js';
import { fair } from './fair.js';
import { priority } from './priority.js';
import type { Policy } from './types.js';
import { weighted } from './weighted.js';

export type { Policy, PolicyView } from './types.js';
export { deadline, fair, priority, weighted };

/** Indexed by PolicyId, the number stored in shared memory. */
export const policiesById: readonly Policy[] = [fair, weighted, priority, deadline];

export const policyNames = Object.keys(PolicyId) as PolicyName[];

export function isPolicyName(name: unknown): name is PolicyName {
  return typeof name === 'string' && Object.hasOwn(PolicyId, name);
}
