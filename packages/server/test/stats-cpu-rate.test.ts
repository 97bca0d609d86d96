import { CpuRateTracker, FIRST_WINDOW_MAX_NS, rateOf } from '../src/stats/cpu-rate';

const S = 1_000_000_000n;

describe('usage_nano_cores', () => {
  it('is Δusage / Δtime in ns per s, from two samples', () => {
    expect(rateOf({ usageNs: 0n, timestamp: 0n }, { usageNs: 5n * S, timestamp: 10n * S })).toBe(500_000_000n);
    expect(rateOf({ usageNs: 1n * S, timestamp: 1n * S }, { usageNs: 3n * S, timestamp: 2n * S })).toBe(2n * S);
    expect(rateOf({ usageNs: 0n, timestamp: 5n }, { usageNs: 10n, timestamp: 5n })).toBeUndefined();
    expect(rateOf({ usageNs: 10n, timestamp: 0n }, { usageNs: 5n, timestamp: 1n })).toBeUndefined();
  });

  it('has no rate on the first sample of an old container, then rates the window between calls', () => {
    const t = new CpuRateTracker();
    const created = 0n;
    const t0 = FIRST_WINDOW_MAX_NS + 10n * S;
    expect(t.observe('c', 100n * S, t0, created)).toBeUndefined();
    expect(t.observe('c', 100n * S + 9n * S, t0 + 10n * S)).toBe(900_000_000n);
    expect(t.observe('c', 109n * S + 2n * S, t0 + 20n * S)).toBe(200_000_000n);
  });

  it('rates a young container on its first sample from its creation (its cgroup started at 0)', () => {
    const t = new CpuRateTracker();
    expect(t.observe('c', 4n * S, 105n * S, 100n * S)).toBe(800_000_000n);
    expect(t.observe('d', 1n * S, 105n * S)).toBeUndefined();
    expect(t.observe('e', 1n * S, 105n * S, 0n)).toBeUndefined();
  });

  it('answers the last full-window rate to a call less than a second after the reference', () => {
    const t = new CpuRateTracker();
    t.observe('c', 0n, 1000n * S);
    expect(t.observe('c', 10n * S, 1010n * S)).toBe(S);
    // 100 ms later, with a burst: not a 100 ms window, the last rate again; the reference stays.
    expect(t.observe('c', 10n * S + 100_000_000n, 1010n * S + 100_000_000n)).toBe(S);
    expect(t.observe('c', 15n * S, 1020n * S)).toBe(500_000_000n);
  });

  it('ignores a sample older than the reference and restarts after a counter reset', () => {
    const t = new CpuRateTracker();
    t.observe('c', 0n, 1000n * S);
    expect(t.observe('c', 5n * S, 1010n * S)).toBe(500_000_000n);
    expect(t.observe('c', 4n * S, 1009n * S)).toBe(500_000_000n);
    expect(t.observe('c', 1n * S, 1020n * S)).toBeUndefined();
    expect(t.observe('c', 3n * S, 1022n * S)).toBe(S);
  });

  it('keeps entries only for live ids', () => {
    const t = new CpuRateTracker();
    for (const id of ['a', 'b', 'c']) t.observe(id, 0n, S);
    t.retain(new Set(['b']));
    expect(t.size).toBe(1);
    expect(t.observe('a', S, 3n * S)).toBeUndefined();
  });
});
