/**
 * The header words that hold the arbiter's settings: written from the validated options when the buffer is
 * made, and the heir's spin, which follows the quantum and the machine's cores. Apart from arbiter.ts because
 * the spin rule weighs the cores, which nothing else in the arbiter looks at.
 */
import { availableParallelism } from 'node:os';
import { nowMs } from './clock.js';
import {
  kFreeTokensField,
  kLagQuantaField,
  kPolicyField,
  kQuantumUsField,
  kSpinUsField,
  kStartedAtField,
  kTokensField,
  kWindowMsField,
  PolicyId,
  type ArbiterViews,
} from './layout.js';
import type { ArbiterConfig } from './validate.js';

export type SpinConfig = Pick<ArbiterConfig, 'heirSpin' | 'spinUs'>;

/** Before any session has the buffer: every setting from `config`, all tokens free. */
export function writeSettings(views: ArbiterViews, config: ArbiterConfig): void {
  const { i32, f64 } = views;
  i32[kTokensField] = config.tokens;
  i32[kFreeTokensField] = config.tokens;
  i32[kPolicyField] = PolicyId[config.policy];
  i32[kQuantumUsField] = Math.round(config.quantumMs * 1000);
  i32[kLagQuantaField] = config.lagQuanta;
  f64[kWindowMsField] = config.windowMs;
  f64[kStartedAtField] = nowMs();
  storeHeirSpin(i32, config);
}

/** Stores how long the heir spins before it sleeps, µs (0: never), for the tokens and quantum in force. */
export function storeHeirSpin(i32: Int32Array, { heirSpin, spinUs }: SpinConfig): void {
  const tokens = Atomics.load(i32, kTokensField);
  const quantumMs = Atomics.load(i32, kQuantumUsField) / 1000;
  // 'auto' spins only with a core to spare beyond the K holders and the main thread, which must keep
  // dispatching requests: on a 2-core machine a spinning heir starves it and the device goes idle.
  const enabled = heirSpin === 'auto' ? tokens + 1 < availableParallelism() : heirSpin;
  // Default: long enough to cover a holder's quantum, since the handoff comes at its next boundary.
  const us = enabled ? (spinUs ?? Math.min(5000, Math.max(50, 2 * quantumMs * 1000))) : 0;
  Atomics.store(i32, kSpinUsField, Math.round(us));
}
