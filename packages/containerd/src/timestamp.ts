import type { Timestamp } from '@crisp/api';

const NANOS_PER_SECOND = 1_000_000_000n;

/**
 * Seconds of Go's zero time.Time (0001-01-01T00:00:00Z). containerd sends it for times that were
 * never set (e.g. `exited_at` of a task that has not exited), not an absent field.
 */
export const GO_ZERO_TIME_SECONDS = -62_135_596_800n;

/** Nanoseconds since the epoch, exact (CRI timestamps are int64 nanoseconds). Absent → 0n. */
export function timestampToNanos(ts: Timestamp | undefined): bigint {
  if (ts === undefined) return 0n;
  return ts.seconds * NANOS_PER_SECOND + BigInt(ts.nanos);
}

/** Inverse of timestampToNanos; nanos stay in [0, 1e9) as protobuf requires, also before 1970. */
export function nanosToTimestamp(nanos: bigint): Timestamp {
  let seconds = nanos / NANOS_PER_SECOND;
  let rest = nanos % NANOS_PER_SECOND;
  if (rest < 0n) {
    seconds -= 1n;
    rest += NANOS_PER_SECOND;
  }
  return { seconds, nanos: Number(rest) };
}

/** Millisecond precision, as Date allows. */
export function timestampToDate(ts: Timestamp): Date {
  return new Date(Number(ts.seconds) * 1000 + Math.floor(ts.nanos / 1_000_000));
}

export function dateToTimestamp(date: Date): Timestamp {
  return nanosToTimestamp(BigInt(date.getTime()) * 1_000_000n);
}

/** True for an absent timestamp, the protobuf zero value, or Go's zero time. */
export function isUnsetTimestamp(ts: Timestamp | undefined): boolean {
  if (ts === undefined) return true;
  return (ts.seconds === 0n && ts.nanos === 0) || (ts.seconds === GO_ZERO_TIME_SECONDS && ts.nanos === 0);
}

/** CRI's convention: 0 for "never". Maps unset (incl. Go zero time) to 0n, else exact nanos. */
export function timestampToCriNanos(ts: Timestamp | undefined): bigint {
  return isUnsetTimestamp(ts) ? 0n : timestampToNanos(ts);
}
