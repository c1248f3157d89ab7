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
 * | kLagQuantaField        | `deadline`: quanta an account may fall behind its weighted share         |
 *
 * Header, Float64 words (index into `f64`):
 * | kWindowMsField         | decay window of the exponentially decayed share, ms                      |
 * | kStartedAtField        | clock (ms) when the arbiter was created                                  |
 * | kVirtualClockField     | system virtual time: the latest start tag served (monotonic)             |
 *
 * A slot is one session thread (an instance of a model); an account is a model, whose instances share one
 * weight, priority and virtual time. The policies share the device among accounts, whatever their thread
 * counts.
 *
 * Slot s (0 <= s < kMaxSessions), Int32 words at kSlotsI32 + s * kSlotI32Size:
 * | kStateField            | SlotState; also the futex word a waiter sleeps on                        |
 * | kSlotGenerationField   | bumped when the slot is reclaimed or freed: a stale handle's ops no-op   |
 * | kAccountField          | the account (model) this slot's session charges                          |
 * | kThreadIdField         | kernel thread id of the slot's session (0: unknown), set by its client   |
 *
 * Slot s, Float64 words at kSlotsF64 + s * kSlotF64Size:
 * | kVirtualTimeField      | this instance's part of its account's virtual time: += charged / weight  |
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
 * Account a (0 <= a < kMaxSessions), Int32 words at kAccountsI32 + a * kAccountI32Size:
 * | kMembersField          | slots registered to it; 0 = the account is free                          |
 * | kPriorityField         | priority class; higher runs first under `priority`                       |
 *
 * Account a, Float64 words at kAccountsF64 + a * kAccountF64Size (the first three written under the lock only):
 * | kWeightField           | weight (> 0)                                                             |
 * | kBaseVirtualTimeField  | virtual time not held by a member: departed instances', and placements   |
 * | kBaseChargedMsField    | cost charged by departed instances, ms                                   |
 * | kDeadlineAtField       | earliest deadline among its pending requests, clock ms; Infinity: none   |
 * | kHeadCostMsField       | predicted device time of its work up to and including that request, ms   |
 *
 * The last two are written by the main thread alone (it owns the request queues), outside the lock: a
 * policy may read them one request behind, which costs at worst one out-of-order grant, never a wrong
 * token count.
 *
 * An account's virtual time is its base plus its members' parts. Each part has one writer (its session, or
 * whoever holds the lock while that session cannot run), so instances charging on K cores at once never race
 * on one word; the sum is read under the lock, where every placement decision is made.
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
export const kLagQuantaField = 14;
export const kHeaderI32Size = 16;

// Header, Float64.
export const kWindowMsField = 0;
export const kStartedAtField = 1;
export const kVirtualClockField = 2;
export const kHeaderF64Size = 4;

// Slot, Int32 (relative to the slot's base).
export const kStateField = 0;
export const kSlotGenerationField = 1;
export const kAccountField = 2;
export const kThreadIdField = 3;
export const kSlotI32Size = 4;

// Slot, Float64 (relative to the slot's base).
export const kVirtualTimeField = 0;
export const kChargedMsField = 1;
export const kDecayedMsField = 2;
export const kDecayedAtField = 3;
export const kGrantsField = 4;
export const kWaitsField = 5;
export const kWaitTotalMsField = 6;
export const kWaitMaxMsField = 7;
export const kGrantedAtField = 8;
export const kHoldMaxMsField = 9;
export const kSlotF64Size = 10;

// Account, Int32 (relative to the account's base).
export const kMembersField = 0;
export const kPriorityField = 1;
export const kAccountI32Size = 2;

// Account, Float64 (relative to the account's base).
export const kWeightField = 0;
export const kBaseVirtualTimeField = 1;
export const kBaseChargedMsField = 2;
export const kDeadlineAtField = 3;
export const kHeadCostMsField = 4;
export const kAccountF64Size = 6;

export const kSlotsI32 = kHeaderI32Size;
export const kSlotsF64 = kHeaderF64Size;
export const kAccountsI32 = kSlotsI32 + kMaxSessions * kSlotI32Size;
export const kAccountsF64 = kSlotsF64 + kMaxSessions * kSlotF64Size;
const kI32Words = kAccountsI32 + kMaxSessions * kAccountI32Size;
const kF64Words = kAccountsF64 + kMaxSessions * kAccountF64Size;

/** The Float64 region starts after the Int32 region, rounded up to 8 bytes. */
export const kF64ByteOffset = Math.ceil((kI32Words * 4) / 8) * 8;

/** A power of two, so the ring index stays continuous when the count folds back at kTraceWrap. */
export const kTraceCapacity = 8192;
/** The event count folds back to kTraceCapacity + (count % kTraceCapacity) here, long before Int32 overflows. */
export const kTraceWrap = 2 ** 30;
export const kTraceF64ByteOffset = kF64ByteOffset + kF64Words * 8;
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

export const PolicyId = { fair: 0, weighted: 1, priority: 2, deadline: 3 } as const;
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
    f64: new Float64Array(buffer, kF64ByteOffset, kF64Words),
    traceAt: new Float64Array(buffer, kTraceF64ByteOffset, kTraceCapacity),
    traceEvent: new Int32Array(buffer, kTraceI32ByteOffset, kTraceCapacity),
  };
}

export const slotI32 = (slot: number, field: number): number => kSlotsI32 + slot * kSlotI32Size + field;
export const slotF64 = (slot: number, field: number): number => kSlotsF64 + slot * kSlotF64Size + field;
export const accountI32 = (account: number, field: number): number => kAccountsI32 + account * kAccountI32Size + field;
export const accountF64 = (account: number, field: number): number => kAccountsF64 + account * kAccountF64Size + field;
