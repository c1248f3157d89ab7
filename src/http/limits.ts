/**
 * What one client may cost the HTTP front, in bytes and in time, and how long a shutdown waits for work in
 * flight. Each key is `limits.<key>` both in olympian.json and in startHttpServer's options, and every bad
 * value is an INVALID_CONFIG naming that key. The table in README.md ("Limits and timeouts") says what
 * happens when each is exceeded.
 */
import { Errors } from '../protocol/errors.js';

export interface HttpLimits {
  /** Largest body of the binary kinds (KServe binary tensors, msgpack), bytes; a compressed body counts decompressed. */
  bodyBytes: number;
  /**
   * Largest JSON body, bytes. Parsing JSON and turning it into typed arrays runs on the event loop, where a
   * health probe waits behind it; bench/results/json-body.md measures the cost.
   */
  jsonBodyBytes: number;
  /** From a connection's first byte (or the end of its last answer) until the request's headers are in. */
  headersTimeoutMs: number;
  /** From a request's first byte until its whole body is in: an upload slower than this is cut (408). */
  bodyTimeoutMs: number;
  /** An idle kept-alive connection is closed after this. */
  keepAliveTimeoutMs: number;
  /** A connection on which no byte moves either way for this long is closed, unless its answer is being worked out. */
  idleTimeoutMs: number;
  /** After SIGTERM (or close()), how long requests already received may take to be answered before the rest are cut. */
  shutdownGraceMs: number;
  /** gRPC: a connection quiet for this long is pinged, so that a peer gone without a word is found. */
  grpcKeepaliveTimeMs: number;
  /** gRPC: a ping unanswered for this long closes the connection, failing its calls. */
  grpcKeepaliveTimeoutMs: number;
}

const MiB = 2 ** 20;

/**
 * The defaults, and why:
 *   1. bodyBytes 64 MiB: a batch of 32 224×224×3 float32 images is 18 MiB as binary; 64 MiB leaves room.
 *   2. jsonBodyBytes 16 MiB: JSON.parse costs ~5 ms per MiB on the 2-core development machine and the
 *      conversion to typed arrays ~1.4 more; a probe waited 141 ms behind a 16 MiB body and 349 ms behind a
 *      32 MiB one (bench/results/json-body.md). 16 MiB keeps it under ~250 ms with room for a slower or
 *      busier machine; bigger tensors go binary, where no number is parsed.
 *   3. headersTimeoutMs 10 s: headers are a few hundred bytes; only a stalled or hostile client needs longer.
 *   4. bodyTimeoutMs 60 s: 64 MiB at 10 Mbit/s takes ~54 s.
 *   5. keepAliveTimeoutMs 5 s (Node's default): set it above the idle timeout of a load balancer in front.
 *   6. idleTimeoutMs 30 s: a stalled upload or a client that stops reading its answer is dropped.
 *   7. shutdownGraceMs 10 s: inside Kubernetes' default 30 s termination grace, with room for a preStop pause.
 *   8. grpcKeepaliveTimeMs 60 s: under the idle timeouts of common load balancers (AWS NLB 350 s, GCP 600 s),
 *      so a long-lived channel is neither cut by one nor left open to a client that vanished.
 *   9. grpcKeepaliveTimeoutMs 20 s (gRPC's own default): a slow peer is not a dead one.
 * gRPC messages are held to bodyBytes (binary tensors, as the binary HTTP bodies).
 */
export const defaultLimits: Readonly<HttpLimits> = Object.freeze({
  bodyBytes: 64 * MiB,
  jsonBodyBytes: 16 * MiB,
  headersTimeoutMs: 10_000,
  bodyTimeoutMs: 60_000,
  keepAliveTimeoutMs: 5_000,
  idleTimeoutMs: 30_000,
  shutdownGraceMs: 10_000,
  grpcKeepaliveTimeMs: 60_000,
  grpcKeepaliveTimeoutMs: 20_000,
});

export const limitKeys = Object.keys(defaultLimits) as Array<keyof HttpLimits>;

/** Node's timers take at most this many milliseconds. */
const kMaxTimerMs = 2 ** 31 - 1;

const isIntegerIn = (value: unknown, min: number, max: number): value is number =>
  Number.isSafeInteger(value) && (value as number) >= min && (value as number) <= max;

/** The limits in force: the defaults with the given ones checked and laid over them. */
export function resolveLimits(given: Partial<HttpLimits> = {}): HttpLimits {
  if (typeof given !== 'object' || given === null || Array.isArray(given))
    throw Errors.invalidConfig('limits', 'must be an object');
  for (const key of Object.keys(given)) {
    if (!Object.hasOwn(defaultLimits, key))
      throw Errors.invalidConfig(`limits.${key}`, `is not a known limit (${limitKeys.join(', ')})`);
  }
  const limits: HttpLimits = { ...defaultLimits };
  for (const key of limitKeys) {
    const value = given[key];
    if (value === undefined) continue;
    if (key === 'bodyBytes' || key === 'jsonBodyBytes') {
      if (!isIntegerIn(value, 1024, Number.MAX_SAFE_INTEGER))
        throw Errors.invalidConfig(`limits.${key}`, `must be an integer >= 1024, got ${JSON.stringify(value)}`);
    } else if (!isIntegerIn(value, key === 'shutdownGraceMs' ? 0 : 1, kMaxTimerMs)) {
      throw Errors.invalidConfig(
        `limits.${key}`,
        `must be an integer number of milliseconds from ${key === 'shutdownGraceMs' ? 0 : 1} to ${kMaxTimerMs}, got ${JSON.stringify(value)}`,
      );
    }
    limits[key] = value;
  }
  // Node refuses a headers timeout longer than the whole request's.
  if (limits.headersTimeoutMs > limits.bodyTimeoutMs) {
    throw Errors.invalidConfig(
      'limits.headersTimeoutMs',
      `must not exceed limits.bodyTimeoutMs (${limits.bodyTimeoutMs})`,
    );
  }
  return limits;
}
