import {
  GO_ZERO_TIME_SECONDS,
  dateToTimestamp,
  isUnsetTimestamp,
  nanosToTimestamp,
  timestampToCriNanos,
  timestampToDate,
  timestampToNanos,
} from '../src';

describe('timestamps', () => {
  it('converts to nanoseconds exactly, beyond Number precision', () => {
    const ts = { seconds: 1796314956n, nanos: 485578384 };
    expect(timestampToNanos(ts)).toBe(1796314956485578384n);
    expect(Number.isSafeInteger(Number(1796314956485578384n))).toBe(false);
    expect(timestampToNanos(undefined)).toBe(0n);
  });

  it('round-trips nanoseconds, including before 1970 and at boundaries', () => {
    for (const n of [0n, 1n, 999_999_999n, 1_000_000_000n, 1796314956485578384n, -1n, -1_000_000_000n, -1_500_000_001n]) {
      const ts = nanosToTimestamp(n);
      expect(ts.nanos).toBeGreaterThanOrEqual(0);
      expect(ts.nanos).toBeLessThan(1e9);
      expect(timestampToNanos(ts)).toBe(n);
    }
    expect(nanosToTimestamp(-1n)).toEqual({ seconds: -1n, nanos: 999_999_999 });
  });

  it('converts to and from Date with millisecond precision', () => {
    const d = timestampToDate({ seconds: 1796314956n, nanos: 485578384 });
    expect(d.toISOString()).toBe(new Date(1796314956485).toISOString());
    expect(dateToTimestamp(new Date(1500)).seconds).toBe(1n);
    expect(dateToTimestamp(new Date(1500)).nanos).toBe(500_000_000);
  });

  it("treats Go's zero time as unset (containerd sends it for a task that has not exited)", () => {
    const goZero = { seconds: GO_ZERO_TIME_SECONDS, nanos: 0 };
    expect(timestampToDate(goZero).toISOString()).toBe('0001-01-01T00:00:00.000Z');
    expect(isUnsetTimestamp(goZero)).toBe(true);
    expect(isUnsetTimestamp(undefined)).toBe(true);
    expect(isUnsetTimestamp({ seconds: 0n, nanos: 0 })).toBe(true);
    expect(isUnsetTimestamp({ seconds: 0n, nanos: 1 })).toBe(false);
    expect(timestampToCriNanos(goZero)).toBe(0n);
    expect(timestampToCriNanos({ seconds: 2n, nanos: 3 })).toBe(2_000_000_003n);
  });
});
