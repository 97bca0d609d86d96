// Decoding of containerd's Tasks.Metrics answers. Each types.Metric carries the task id, the time
// containerd collected it, and an Any from the shim: `io.containerd.cgroups.v1.Metrics` on cgroup v1
// hosts, `io.containerd.cgroups.v2.Metrics` on cgroup v2. containerd 1.6 (typeurl v1, gogo types)
// sends the bare message name as the type URL; later versions may prefix it, so only the name counts.
// Both become one normalized shape, with the derived values kubelet and cAdvisor use.
import { Any, cgroup1, cgroup2, metrics } from '@crisp/api';
import { AnyTypeError, timestampToCriNanos, typeNameOf } from '@crisp/containerd';

export const CGROUP_V1_METRICS = 'io.containerd.cgroups.v1.Metrics';
export const CGROUP_V2_METRICS = 'io.containerd.cgroups.v2.Metrics';

/** Above this a memory limit means "none" (the kernel's max rounds down to a page multiple below 2^63). */
const UNLIMITED = 1n << 62n;

export interface CpuStats {
  /** Cumulative CPU time, all cores, ns. */
  usageNs: bigint;
  userNs: bigint;
  systemNs: bigint;
  /** CFS enforcement periods elapsed, and those in which the cgroup was throttled. */
  periods: bigint;
  throttledPeriods: bigint;
  throttledNs: bigint;
}

export interface MemoryStats {
  /** All memory charged to the cgroup (page cache included). */
  usage: bigint;
  /** usage − inactive file cache, floor 0: what the kernel cannot reclaim easily (kubelet evicts on it). */
  workingSet: bigint;
  /** Anonymous memory (v1 total_rss, v2 anon). */
  rss: bigint;
  /** Page cache (v1 total_cache, v2 file). */
  cache: bigint;
  mappedFile: bigint;
  /** Kernel memory (v1 kmem usage, v2 kernel_stack + slab). */
  kernel: bigint;
  activeFile: bigint;
  inactiveFile: bigint;
  pageFaults: bigint;
  majorPageFaults: bigint;
  /** Peak usage (v1 max_usage_in_bytes, v2 memory.peak; 0 when the kernel has none). */
  maxUsage: bigint;
  /** The limit; undefined when unlimited. */
  limit: bigint | undefined;
  /** Times usage hit the limit (v1 failcnt, v2 memory.events `max`). */
  failcnt: bigint;
  /** limit − workingSet (floor 0) when limited. */
  available: bigint | undefined;
}

export interface SwapStats {
  usage: bigint;
  /** undefined when unlimited. */
  limit: bigint | undefined;
  available: bigint | undefined;
}

export interface PidsStats {
  current: bigint;
  /** undefined when unlimited. */
  limit: bigint | undefined;
}

export interface TaskStats {
  id: string;
  /** When containerd collected it, ns since the epoch. */
  timestamp: bigint;
  cgroup: 'v1' | 'v2';
  cpu: CpuStats;
  memory: MemoryStats;
  /** Only where swap is accounted (v1 memsw files, v2 memory.swap.*). */
  swap?: SwapStats;
  pids: PidsStats;
  /** OOM kills in the cgroup (v1 memory.oom_control `oom_kill` on kernels ≥ 4.13, v2 memory.events). */
  oomKills?: bigint;
}

const ZERO_CPU: CpuStats = { usageNs: 0n, userNs: 0n, systemNs: 0n, periods: 0n, throttledPeriods: 0n, throttledNs: 0n };

function limited(v: bigint): bigint | undefined {
  return v > 0n && v < UNLIMITED ? v : undefined;
}

function floorSub(a: bigint, b: bigint): bigint {
  return a > b ? a - b : 0n;
}

/** usage − inactive_file, never negative (as kubelet, cAdvisor and containerd compute it). */
export function workingSetOf(usage: bigint, inactiveFile: bigint): bigint {
  return floorSub(usage, inactiveFile);
}

function memoryWith(base: Omit<MemoryStats, 'workingSet' | 'available'>): MemoryStats {
  const workingSet = workingSetOf(base.usage, base.inactiveFile);
  return { ...base, workingSet, available: base.limit === undefined ? undefined : floorSub(base.limit, workingSet) };
}

export function fromCgroup1(id: string, timestamp: bigint, m: cgroup1.Metrics): TaskStats {
  const u = m.cpu?.usage;
  const t = m.cpu?.throttling;
  const mem = m.memory;
  const usage = mem?.usage;
  const out: TaskStats = {
    id,
    timestamp,
    cgroup: 'v1',
    cpu: {
      usageNs: u?.total ?? 0n,
      userNs: u?.user ?? 0n,
      systemNs: u?.kernel ?? 0n,
      periods: t?.periods ?? 0n,
      throttledPeriods: t?.throttledPeriods ?? 0n,
      throttledNs: t?.throttledTime ?? 0n,
    },
    memory: memoryWith({
      usage: usage?.usage ?? 0n,
      // The total_* fields count the cgroup and its descendants, as usage does.
      rss: mem?.totalRss ?? 0n,
      cache: mem?.totalCache ?? 0n,
      mappedFile: mem?.totalMappedFile ?? 0n,
      kernel: mem?.kernel?.usage ?? 0n,
      activeFile: mem?.totalActiveFile ?? 0n,
      inactiveFile: mem?.totalInactiveFile ?? 0n,
      pageFaults: mem?.totalPgFault ?? 0n,
      majorPageFaults: mem?.totalPgMajFault ?? 0n,
      maxUsage: usage?.max ?? 0n,
      limit: limited(usage?.limit ?? 0n),
      failcnt: usage?.failcnt ?? 0n,
    }),
    pids: { current: m.pids?.current ?? 0n, limit: limited(m.pids?.limit ?? 0n) },
  };
  // memsw counts memory + swap; its files exist only with swap accounting (limit 0 otherwise).
  const memsw = mem?.swap;
  if (memsw && memsw.limit > 0n) {
    const swapUsage = floorSub(memsw.usage, usage?.usage ?? 0n);
    const memLimit = limited(usage?.limit ?? 0n);
    const bothLimit = limited(memsw.limit);
    const swapLimit = memLimit !== undefined && bothLimit !== undefined ? floorSub(bothLimit, memLimit) : undefined;
    out.swap = { usage: swapUsage, limit: swapLimit, available: swapLimit === undefined ? undefined : floorSub(swapLimit, swapUsage) };
  }
  if (m.memoryOomControl) out.oomKills = m.memoryOomControl.oomKill;
  return out;
}

export function fromCgroup2(id: string, timestamp: bigint, m: cgroup2.Metrics): TaskStats {
  const c = m.cpu;
  const mem = m.memory;
  const us = (v: bigint | undefined): bigint => (v ?? 0n) * 1000n;
  const out: TaskStats = {
    id,
    timestamp,
    cgroup: 'v2',
    cpu: c
      ? {
          usageNs: us(c.usageUsec),
          userNs: us(c.userUsec),
          systemNs: us(c.systemUsec),
          periods: c.nrPeriods,
          throttledPeriods: c.nrThrottled,
          throttledNs: us(c.throttledUsec),
        }
      : { ...ZERO_CPU },
    memory: memoryWith({
      usage: mem?.usage ?? 0n,
      rss: mem?.anon ?? 0n,
      cache: mem?.file ?? 0n,
      mappedFile: mem?.fileMapped ?? 0n,
      kernel: (mem?.kernelStack ?? 0n) + (mem?.slab ?? 0n),
      activeFile: mem?.activeFile ?? 0n,
      inactiveFile: mem?.inactiveFile ?? 0n,
      pageFaults: mem?.pgfault ?? 0n,
      majorPageFaults: mem?.pgmajfault ?? 0n,
      maxUsage: mem?.maxUsage ?? 0n,
      limit: limited(mem?.usageLimit ?? 0n),
      failcnt: m.memoryEvents?.max ?? 0n,
    }),
    pids: { current: m.pids?.current ?? 0n, limit: limited(m.pids?.limit ?? 0n) },
  };
  // memory.swap.* exist only where the swap controller is on: absent files read as 0.
  if (mem && (mem.swapLimit > 0n || mem.swapUsage > 0n)) {
    const swapLimit = limited(mem.swapLimit);
    out.swap = { usage: mem.swapUsage, limit: swapLimit, available: swapLimit === undefined ? undefined : floorSub(swapLimit, mem.swapUsage) };
  }
  if (m.memoryEvents) out.oomKills = m.memoryEvents.oomKill;
  return out;
}

/** Decodes the shim's cgroup metrics Any; throws AnyTypeError for another type. */
export function decodeMetricsData(id: string, timestamp: bigint, data: Any): TaskStats {
  switch (typeNameOf(data.typeUrl)) {
    case CGROUP_V1_METRICS:
      return fromCgroup1(id, timestamp, cgroup1.Metrics.decode(data.value));
    case CGROUP_V2_METRICS:
      return fromCgroup2(id, timestamp, cgroup2.Metrics.decode(data.value));
    default:
      throw new AnyTypeError(`${CGROUP_V1_METRICS} or ${CGROUP_V2_METRICS}`, data.typeUrl);
  }
}

/** One entry of a Tasks.Metrics answer; the collection time falls back to `now` when containerd sent none. */
export function decodeMetric(m: metrics.Metric, now: () => bigint = nowNanos): TaskStats {
  if (!m.data) throw new AnyTypeError(`${CGROUP_V1_METRICS} or ${CGROUP_V2_METRICS}`, '(none)');
  const ts = timestampToCriNanos(m.timestamp);
  return decodeMetricsData(m.id, ts > 0n ? ts : now(), m.data);
}

/**
 * The decoded entries of a Tasks.Metrics answer for the tasks `wanted` has; an unreadable entry is
 * passed to `onError` and left out (one bad shim answer must not fail the others).
 */
export function decodeMetrics(list: readonly metrics.Metric[], wanted: { has(id: string): boolean }, onError: (id: string, err: unknown) => void): Map<string, TaskStats> {
  const out = new Map<string, TaskStats>();
  for (const m of list) {
    if (!wanted.has(m.id)) continue;
    try {
      out.set(m.id, decodeMetric(m));
    } catch (err) {
      onError(m.id, err);
    }
  }
  return out;
}

export function nowNanos(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}
