import { Any, cgroup1, cgroup2, metrics } from '@crisp/api';
import { AnyTypeError, nanosToTimestamp } from '@crisp/containerd';
import { CGROUP_V1_METRICS, CGROUP_V2_METRICS, decodeMetric, decodeMetricsData, workingSetOf } from '../src/decode';

const MiB = 1024n * 1024n;
const UNLIMITED_V1 = 9223372036854771712n; // what cgroup v1 reports for "no limit"
const MAX_U64 = 18446744073709551615n; // cgroup v2 "max"

function anyOf<T>(typeUrl: string, codec: { encode(m: T): { finish(): Uint8Array } }, m: T): Any {
  return { typeUrl, value: Buffer.from(codec.encode(m).finish()) };
}

function v1(partial: Parameters<typeof cgroup1.Metrics.fromPartial>[0], typeUrl = CGROUP_V1_METRICS): Any {
  return anyOf(typeUrl, cgroup1.Metrics, cgroup1.Metrics.fromPartial(partial));
}

function v2(partial: Parameters<typeof cgroup2.Metrics.fromPartial>[0], typeUrl = CGROUP_V2_METRICS): Any {
  return anyOf(typeUrl, cgroup2.Metrics, cgroup2.Metrics.fromPartial(partial));
}

describe('decode cgroup v1 metrics', () => {
  const data = v1({
    cpu: { usage: { total: 5_000_000_000n, user: 3_000_000_000n, kernel: 2_000_000_000n, perCpu: [] }, throttling: { periods: 100n, throttledPeriods: 7n, throttledTime: 350_000_000n } },
    memory: {
      usage: { usage: 100n * MiB, limit: 256n * MiB, max: 120n * MiB, failcnt: 3n },
      totalInactiveFile: 30n * MiB,
      totalActiveFile: 10n * MiB,
      inactiveFile: 1n, // the cgroup's own figure: ignored, the hierarchical total counts
      totalRss: 60n * MiB,
      totalCache: 40n * MiB,
      totalMappedFile: 5n * MiB,
      totalPgFault: 1234n,
      totalPgMajFault: 5n,
      kernel: { usage: 2n * MiB },
      swap: { usage: 0n, limit: 0n }, // no swap accounting: memsw files absent
    },
    pids: { current: 4n, limit: 0n },
    memoryOomControl: { oomKill: 2n },
  });

  it('normalizes cpu, memory, pids and OOM kills', () => {
    const s = decodeMetricsData('c1', 42n, data);
    expect(s).toMatchObject({ id: 'c1', timestamp: 42n, cgroup: 'v1' });
    expect(s.cpu).toEqual({ usageNs: 5_000_000_000n, userNs: 3_000_000_000n, systemNs: 2_000_000_000n, periods: 100n, throttledPeriods: 7n, throttledNs: 350_000_000n });
    expect(s.memory).toEqual({
      usage: 100n * MiB,
      workingSet: 70n * MiB,
      rss: 60n * MiB,
      cache: 40n * MiB,
      mappedFile: 5n * MiB,
      kernel: 2n * MiB,
      activeFile: 10n * MiB,
      inactiveFile: 30n * MiB,
      pageFaults: 1234n,
      majorPageFaults: 5n,
      maxUsage: 120n * MiB,
      limit: 256n * MiB,
      failcnt: 3n,
      available: 186n * MiB,
    });
    expect(s.pids).toEqual({ current: 4n, limit: undefined });
    expect(s.oomKills).toBe(2n);
    expect(s.swap).toBeUndefined();
  });

  it('reads "no limit" as unlimited: no available bytes', () => {
    const s = decodeMetricsData('c', 1n, v1({ memory: { usage: { usage: 10n * MiB, limit: UNLIMITED_V1 } }, pids: { current: 1n, limit: 512n } }));
    expect(s.memory.limit).toBeUndefined();
    expect(s.memory.available).toBeUndefined();
    expect(s.pids.limit).toBe(512n);
  });

  it('derives swap from memsw (memory + swap) when swap is accounted', () => {
    const s = decodeMetricsData('c', 1n, v1({ memory: { usage: { usage: 100n * MiB, limit: 200n * MiB }, swap: { usage: 130n * MiB, limit: 300n * MiB } } }));
    expect(s.swap).toEqual({ usage: 30n * MiB, limit: 100n * MiB, available: 70n * MiB });
    const unlimited = decodeMetricsData('c', 1n, v1({ memory: { usage: { usage: 100n * MiB, limit: UNLIMITED_V1 }, swap: { usage: 100n * MiB, limit: UNLIMITED_V1 } } }));
    expect(unlimited.swap).toEqual({ usage: 0n, limit: undefined, available: undefined });
  });

  it('accepts the type URL with or without a prefix, and decodes a whole types.Metric', () => {
    const prefixed = v1({ cpu: { usage: { total: 9n, user: 0n, kernel: 0n, perCpu: [] } } }, `types.containerd.io/${CGROUP_V1_METRICS}`);
    const m = metrics.Metric.fromPartial({ id: 'abc', timestamp: nanosToTimestamp(1_700_000_000_123_456_789n), data: prefixed });
    const s = decodeMetric(m);
    expect(s).toMatchObject({ id: 'abc', timestamp: 1_700_000_000_123_456_789n, cgroup: 'v1' });
    expect(s.cpu.usageNs).toBe(9n);
  });

  it('falls back to now for a metric without a timestamp', () => {
    const m = metrics.Metric.fromPartial({ id: 'x', data: v1({}) });
    expect(decodeMetric(m, () => 77n).timestamp).toBe(77n);
  });

  it('decodes an empty message to zeros (a cgroup with no controller answers)', () => {
    const s = decodeMetricsData('c', 1n, v1({}));
    expect(s.cpu.usageNs).toBe(0n);
    expect(s.memory.workingSet).toBe(0n);
    expect(s.oomKills).toBeUndefined();
  });
});

describe('decode cgroup v2 metrics', () => {
  it('normalizes cpu (µs → ns), memory, swap, pids and events', () => {
    const s = decodeMetricsData(
      'c2',
      5n,
      v2({
        cpu: { usageUsec: 2_500_000n, userUsec: 2_000_000n, systemUsec: 500_000n, nrPeriods: 10n, nrThrottled: 2n, throttledUsec: 1500n },
        memory: {
          usage: 80n * MiB,
          usageLimit: 128n * MiB,
          inactiveFile: 20n * MiB,
          activeFile: 4n * MiB,
          anon: 50n * MiB,
          file: 24n * MiB,
          fileMapped: 3n * MiB,
          kernelStack: 1n * MiB,
          slab: 2n * MiB,
          pgfault: 99n,
          pgmajfault: 1n,
          maxUsage: 90n * MiB,
          swapUsage: 8n * MiB,
          swapLimit: MAX_U64,
        },
        memoryEvents: { max: 4n, oomKill: 1n },
        pids: { current: 3n, limit: 100n },
      }),
    );
    expect(s.cgroup).toBe('v2');
    expect(s.cpu).toEqual({ usageNs: 2_500_000_000n, userNs: 2_000_000_000n, systemNs: 500_000_000n, periods: 10n, throttledPeriods: 2n, throttledNs: 1_500_000n });
    expect(s.memory).toMatchObject({
      usage: 80n * MiB,
      workingSet: 60n * MiB,
      rss: 50n * MiB,
      cache: 24n * MiB,
      kernel: 3n * MiB,
      limit: 128n * MiB,
      available: 68n * MiB,
      failcnt: 4n,
      pageFaults: 99n,
      majorPageFaults: 1n,
      maxUsage: 90n * MiB,
    });
    expect(s.swap).toEqual({ usage: 8n * MiB, limit: undefined, available: undefined });
    expect(s.pids).toEqual({ current: 3n, limit: 100n });
    expect(s.oomKills).toBe(1n);
  });

  it('treats "max" as unlimited and leaves swap out without a swap controller', () => {
    const s = decodeMetricsData('c', 1n, v2({ memory: { usage: 10n, usageLimit: MAX_U64, inactiveFile: 20n } }));
    expect(s.memory.limit).toBeUndefined();
    expect(s.memory.available).toBeUndefined();
    expect(s.memory.workingSet).toBe(0n);
    expect(s.swap).toBeUndefined();
  });

  it('has available = 0, never negative, when the working set is over the limit', () => {
    const s = decodeMetricsData('c', 1n, v2({ memory: { usage: 200n, usageLimit: 100n, inactiveFile: 0n } }));
    expect(s.memory.available).toBe(0n);
  });
});

describe('working set', () => {
  it('is usage − inactive file, floored at 0', () => {
    expect(workingSetOf(100n, 30n)).toBe(70n);
    expect(workingSetOf(30n, 100n)).toBe(0n);
    expect(workingSetOf(0n, 0n)).toBe(0n);
  });
});

describe('other payloads', () => {
  it('throws AnyTypeError for another message type', () => {
    expect(() => decodeMetricsData('c', 1n, { typeUrl: 'containerd.windows.Statistics', value: Buffer.alloc(0) })).toThrow(AnyTypeError);
    expect(() => decodeMetric(metrics.Metric.fromPartial({ id: 'c' }))).toThrow(AnyTypeError);
  });
});
