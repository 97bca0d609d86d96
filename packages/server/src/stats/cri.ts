// Samples → CRI ContainerStats / PodSandboxStats (UInt64Value wrappers, timestamps in ns).
//
// Pod cpu and memory are the sum over the pod's running containers and its pause container, all
// taken from the one Tasks.Metrics answer, rather than read from the pod's cgroup parent:
// - it costs nothing more than the container stats do (no per-pod cgroup files to find and parse
//   for two cgroup versions and two cgroup drivers), and it works when the pod has no cgroup parent
//   (containerd's CRI plugin fails the call then);
// - the pod equals the sum of what its containers report, always;
// - what it misses: memory still charged to the pod cgroup by containers that are gone (page cache),
//   and, for cumulative cpu, the time of containers already removed. The pod's usage_nano_cores is
//   therefore the sum of its members' rates (each over its own windows), which stays right when a
//   container comes or goes; it is absent while any member has no rate yet.
// Pod available memory: the sum of the containers' limits minus the pod working set, when every
// container (pause aside) has a limit, which is how kubelet sizes a pod's cgroup; absent otherwise.
import type { cri } from '@crisp/api';
import type { ContainerSample, PodSample } from './collector';
import type { InterfaceCounters, TaskStats } from '@crisp/metrics-exporter';

const u64 = (value: bigint): cri.UInt64Value => ({ value });

export function containerAttributes(s: ContainerSample): cri.ContainerAttributes {
  const c = s.rec.config;
  return { id: s.rec.id, metadata: c.metadata, labels: c.labels, annotations: c.annotations };
}

function cpuUsage(t: TaskStats, nanoCores: bigint | undefined): cri.CpuUsage {
  return {
    timestamp: t.timestamp,
    usageCoreNanoSeconds: u64(t.cpu.usageNs),
    usageNanoCores: nanoCores === undefined ? undefined : u64(nanoCores),
    psi: undefined,
  };
}

function memoryUsage(t: TaskStats): cri.MemoryUsage {
  const m = t.memory;
  return {
    timestamp: t.timestamp,
    workingSetBytes: u64(m.workingSet),
    availableBytes: m.available === undefined ? undefined : u64(m.available),
    usageBytes: u64(m.usage),
    rssBytes: u64(m.rss),
    pageFaults: u64(m.pageFaults),
    majorPageFaults: u64(m.majorPageFaults),
    psi: undefined,
  };
}

export function criContainerStats(s: ContainerSample, fsMountpoint: string): cri.ContainerStats {
  const t = s.task;
  return {
    attributes: containerAttributes(s),
    cpu: t ? cpuUsage(t, s.nanoCores) : undefined,
    memory: t ? memoryUsage(t) : undefined,
    writableLayer: s.layer
      ? { timestamp: s.layer.timestamp, fsId: { mountpoint: fsMountpoint }, usedBytes: u64(s.layer.bytes), inodesUsed: u64(s.layer.inodes) }
      : undefined,
    swap: t?.swap
      ? { timestamp: t.timestamp, swapUsageBytes: u64(t.swap.usage), swapAvailableBytes: t.swap.available === undefined ? undefined : u64(t.swap.available) }
      : undefined,
    io: undefined,
  };
}

export interface PodTotals {
  timestamp: bigint;
  cpuNs: bigint;
  /** Absent while any member has no rate yet. */
  nanoCores: bigint | undefined;
  usage: bigint;
  workingSet: bigint;
  rss: bigint;
  pageFaults: bigint;
  majorPageFaults: bigint;
  available: bigint | undefined;
  processes: bigint;
}

/** Sums over the pause container and the running containers; undefined when none of them runs. */
export function podTotals(p: PodSample): PodTotals | undefined {
  const members: { task: TaskStats; nanoCores: bigint | undefined; pause: boolean }[] = [];
  if (p.pause) members.push({ task: p.pause, nanoCores: p.pauseNanoCores, pause: true });
  for (const c of p.containers) if (c.task) members.push({ task: c.task, nanoCores: c.nanoCores, pause: false });
  if (members.length === 0) return undefined;
  const t: PodTotals = {
    timestamp: 0n,
    cpuNs: 0n,
    nanoCores: 0n,
    usage: 0n,
    workingSet: 0n,
    rss: 0n,
    pageFaults: 0n,
    majorPageFaults: 0n,
    available: undefined,
    processes: 0n,
  };
  let limits: bigint | undefined = 0n;
  let containers = 0;
  for (const m of members) {
    const s = m.task;
    if (s.timestamp > t.timestamp) t.timestamp = s.timestamp;
    t.cpuNs += s.cpu.usageNs;
    t.nanoCores = t.nanoCores === undefined || m.nanoCores === undefined ? undefined : t.nanoCores + m.nanoCores;
    t.usage += s.memory.usage;
    t.workingSet += s.memory.workingSet;
    t.rss += s.memory.rss;
    t.pageFaults += s.memory.pageFaults;
    t.majorPageFaults += s.memory.majorPageFaults;
    t.processes += s.pids.current;
    if (!m.pause) {
      containers++;
      limits = limits === undefined || s.memory.limit === undefined ? undefined : limits + s.memory.limit;
    }
  }
  if (containers > 0 && limits !== undefined) t.available = limits > t.workingSet ? limits - t.workingSet : 0n;
  return t;
}

function interfaceUsage(i: InterfaceCounters): cri.NetworkInterfaceUsage {
  return { name: i.name, rxBytes: u64(i.rxBytes), rxErrors: u64(i.rxErrors), txBytes: u64(i.txBytes), txErrors: u64(i.txErrors) };
}

export function criPodStats(p: PodSample, fsMountpoint: string): cri.PodSandboxStats {
  const c = p.rec.config;
  const totals = podTotals(p);
  return {
    attributes: { id: p.rec.id, metadata: c.metadata, labels: c.labels, annotations: c.annotations },
    linux: {
      cpu: totals
        ? { timestamp: totals.timestamp, usageCoreNanoSeconds: u64(totals.cpuNs), usageNanoCores: totals.nanoCores === undefined ? undefined : u64(totals.nanoCores), psi: undefined }
        : undefined,
      memory: totals
        ? {
            timestamp: totals.timestamp,
            workingSetBytes: u64(totals.workingSet),
            availableBytes: totals.available === undefined ? undefined : u64(totals.available),
            usageBytes: u64(totals.usage),
            rssBytes: u64(totals.rss),
            pageFaults: u64(totals.pageFaults),
            majorPageFaults: u64(totals.majorPageFaults),
            psi: undefined,
          }
        : undefined,
      network: p.network
        ? {
            timestamp: p.network.timestamp,
            defaultInterface: p.network.defaultInterface ? interfaceUsage(p.network.defaultInterface) : undefined,
            interfaces: p.network.others.map(interfaceUsage),
          }
        : undefined,
      process: totals ? { timestamp: totals.timestamp, processCount: u64(totals.processes) } : undefined,
      containers: p.containers.map((s) => criContainerStats(s, fsMountpoint)),
      io: undefined,
    },
    windows: undefined,
  };
}
