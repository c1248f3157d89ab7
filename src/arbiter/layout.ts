/**
 * The arbiter's shared memory map. One `SharedArrayBuffer` per device, viewed twice: an `Int32Array` for the
 * words touched with `Atomics` and a `Float64Array` for costs, clocks and counters (written by one thread at a
 * time: the slot's own session, or whoever holds the lock).
 *
 * Header, Int32 words (index into `i32`):
 * | field                  | meaning                                                                  |
 * |------------------------|--------------------------------------------------------------------------|
 * | kTokensField           | K: tokens on this device                                                 |
 * | kFreeTokensField       | tokens held by nobody (> 0 only while nobody waits)                      |
 * | kWaitingCountField     | sessions in WAITING; the only word `yield`'s fast path reads             |
 * | kPolicyField           | PolicyId of the active policy                                            |
 * | kQuantumUsField        | quantum in microseconds                                                  |
 * | kLockField             | 0 = free, else owner id (slot + 1, or kMainThreadOwner)                  |
 * | kLockWaitersField      | threads asleep on kLockField                                             |
 * | kSlotCountField        | slots handed out so far (high-water mark, <= kMaxSessions)               |
 * | kHeirField             | slot the policy would pick next, or -1 (only the heir may spin)          |
 * | kSpinUsField           | how long the heir spins before sleeping, microseconds; 0 = never spin    |
 * | kGenerationField       | bumped by every reclaim: a cheap "something died" signal for observers   |
 * | kHandoffsField         | token handoffs between two different sessions, total (wraps at 2^31)     |
 * | kTraceOnField          | 1 while the grant/release trace records (off: one plain load per event)  |
 * | kTraceCountField       | trace events written since tracing started (see kTraceWrap)              |
 *
 * Header, Float64 words (index into `f64`):
 * | kWindowMsField         | decay window of the exponentially decayed share, ms                      |
 * | kStartedAtField        | clock (ms) when the arbiter was created                                  |
 * | kVirtualClockField     | system virtual time: the latest start tag served (monotonic)             |
 *
 * Slot s (0 <= s < kMaxSessions), Int32 words at kSlotsI32 + s * kSlotI32Size:
 * | kStateField            | SlotState; also the futex word a waiter sleeps on                        |
 * | kSlotGenerationField   | bumped when the slot is reclaimed or freed: a stale handle's ops no-op   |
 * | kPriorityField         | priority class; higher runs first under `priority`                       |
 * | kThreadIdField         | kernel thread id of the slot's session (0: unknown), set by its client   |
 *
 * Slot s, Float64 words at kSlotsF64 + s * kSlotF64Size:
 * | kWeightField           | weight (> 0)                                                             |
 * | kVirtualTimeField      | start-time fair queuing tag: += charged / weight                         |
 * | kChargedMsField        | cost charged since registration, ms                                      |
 * | kDecayedMsField        | charged cost decayed with kWindowMsField, as of kDecayedAtField          |
 * | kDecayedAtField        | clock (ms) of the last decay                                             |
 * | kGrantsField           | tokens received                                                          |
 * | kWaitsField            | times it had to wait for a token                                         |
 * | kWaitTotalMsField      | total time spent waiting, ms                                             |
 * | kWaitMaxMsField        | longest single wait, ms                                                  |
 * | kGrantedAtField        | clock (ms) when the token was last granted (set by the granter)          |
 * | kHoldMaxMsField        | longest hold that ended in a handoff to a waiter (interleaving interval) |
 *
 * Trace ring (kTraceCapacity events, written under the lock only, so a single writer at a time):
 * a Float64 clock (ms) per event at kTraceF64ByteOffset, and an Int32 `slot * 2 + TraceEvent` at
 * kTraceI32ByteOffset. Event n lives at n % kTraceCapacity.
 */

export const kMaxSessions = 64;
export const kMainThreadOwner = kMaxSessions + 1;

// Header, Int32.
export const kTokensField = 0;
export const kFreeTokensField = 1;
export const kWaitingCountField = 2;
export const kPolicyField = 3;
export const kQuantumUsField = 4;
export const kLockField = 5;
export const kLockWaitersField = 6;
export const kSlotCountField = 7;
export const kHeirField = 8;
export const kSpinUsField = 9;
export const kGenerationField = 10;
export const kHandoffsField = 11;
export const kTraceOnField = 12;
export const kTraceCountField = 13;
export const kHeaderI32Size = 16;

// Header, Float64.
export const kWindowMsField = 0;
export const kStartedAtField = 1;
export const kVirtualClockField = 2;
export const kHeaderF64Size = 4;

// Slot, Int32 (relative to the slot's base).
export const kStateField = 0;
export const kSlotGenerationField = 1;
export const kPriorityField = 2;
export const kThreadIdField = 3;
export const kSlotI32Size = 4;

// Slot, Float64 (relative to the slot's base).
export const kWeightField = 0;
export const kVirtualTimeField = 1;
export const kChargedMsField = 2;
export const kDecayedMsField = 3;
export const kDecayedAtField = 4;
export const kGrantsField = 5;
export const kWaitsField = 6;
export const kWaitTotalMsField = 7;
export const kWaitMaxMsField = 8;
export const kGrantedAtField = 9;
export const kHoldMaxMsField = 10;
export const kSlotF64Size = 12;

export const kSlotsI32 = kHeaderI32Size;
export const kSlotsF64 = kHeaderF64Size;

/** The Float64 region starts after the Int32 region, rounded up to 8 bytes. */
export const kF64ByteOffset = Math.ceil(((kHeaderI32Size + kMaxSessions * kSlotI32Size) * 4) / 8) * 8;

/** A power of two, so the ring index stays continuous when the count folds back at kTraceWrap. */
export const kTraceCapacity = 8192;
/** The event count folds back to kTraceCapacity + (count % kTraceCapacity) here, long before Int32 overflows. */
export const kTraceWrap = 2 ** 30;
export const kTraceF64ByteOffset = kF64ByteOffset + (kHeaderF64Size + kMaxSessions * kSlotF64Size) * 8;
export const kTraceI32ByteOffset = kTraceF64ByteOffset + kTraceCapacity * 8;
export const kBufferBytes = kTraceI32ByteOffset + kTraceCapacity * 4;

export const TraceEvent = {
  /** The slot was handed a token (by whoever released it, or by itself from the free pool). */
  GRANT: 0,
  /** The slot gave its token up (release, a yield that handed over, or a reclaim after its thread died). */
  RELEASE: 1,
} as const;
export type TraceEvent = (typeof TraceEvent)[keyof typeof TraceEvent];

export const SlotState = {
  /** Not handed out. */
  FREE: 0,
  /** Registered, not asking for the device. */
  IDLE: 1,
  /** Asking for a token, asleep or (the heir only) spinning. */
  WAITING: 2,
  /** Holds a token: may launch kernels. */
  HOLDING: 3,
  /** Its thread died; the main thread reclaimed whatever it held. */
  DEAD: 4,
} as const;
export type SlotState = (typeof SlotState)[keyof typeof SlotState];

export const PolicyId = { fair: 0, weighted: 1, priority: 2 } as const;
export type PolicyName = keyof typeof PolicyId;

export interface ArbiterViews {
  i32: Int32Array;
  f64: Float64Array;
  traceAt: Float64Array;
  traceEvent: Int32Array;
}

export function viewsOf(buffer: SharedArrayBuffer): ArbiterViews {
  return {
    i32: new Int32Array(buffer, 0, kF64ByteOffset / 4),
    f64: new Float64Array(buffer, kF64ByteOffset, kHeaderF64Size + kMaxSessions * kSlotF64Size),
    traceAt: new Float64Array(buffer, kTraceF64ByteOffset, kTraceCapacity),
    traceEvent: new Int32Array(buffer, kTraceI32ByteOffset, kTraceCapacity),
  };
}

export const slotI32 = (slot: number, field: number): number => kSlotsI32 + slot * kSlotI32Size + field;
export const slotF64 = (slot: number, field: number): number => kSlotsF64 + slot * kSlotF64Size + field;
