// ListMetricDescriptors / ListPodSandboxMetrics: the cAdvisor metrics kubelet serves on
// /metrics/cadvisor when the PodAndContainerStatsFromCRI gate makes it read them from the runtime.
//
// Names, help and units are cAdvisor's (what dashboards and recording rules query). Label keys:
// `id`, `name`, `image` (+ `interface`, `device`, `failure_type`/`scope` where cAdvisor has them).
// kubelet adds `namespace`, `pod` and `container` itself (it appends them to every descriptor), so
// the runtime must not declare them again: a repeated label name would make kubelet's descriptor
// invalid. Label values: containers `id` = container id, `name` = container name, `image` = the
// image as the pod spec named it; pod-level metrics (network) `id` = sandbox id, `name` = "POD",
// `image` = the sandbox image.
// container_memory_failures_total carries scope="hierarchy": the page fault counts are the cgroup's
// and its descendants' (v1 total_pgfault, v2 memory.stat), as cAdvisor labels hierarchical data.
// CRI metric values are integers: seconds are whole seconds (as containerd and CRI-O send them);
// byte and count values are exact. Timestamps are 0 (gathered live, per the CRI) except for the
// writable layer usage, which may come from the 10 s cache and carries its measurement time.
import { cri } from '@crisp/api';
import { CONTAINER_METRICS, MetricName, POD_METRICS } from '@crisp/metrics-exporter';
import type { ContainerSample, PodSample } from './collector';

export { CONTAINER_METRICS, POD_METRICS };

const BASE = ['id', 'name', 'image'];

type Desc = MetricName;

/** Static: kubelet reads them once at start (the CRI asks for a list that does not change). */
export function metricDescriptors(): cri.MetricDescriptor[] {
  return [...Object.values(CONTAINER_METRICS), ...Object.values(POD_METRICS)].map((x) => ({ name: x.name, help: x.help, labelKeys: [...BASE, ...(x.extra ?? [])] }));
}

const NS_PER_S = 1_000_000_000n;
const { COUNTER, GAUGE } = cri.MetricType;

function metric(desc: Desc, type: cri.MetricType, labels: string[], value: bigint, timestamp = 0n): cri.Metric {
  return { name: desc.name, timestamp, metricType: type, labelValues: labels, value: { value } };
}

export function containerMetrics(s: ContainerSample, fsDevice: string): cri.ContainerMetrics {
  const M = CONTAINER_METRICS;
  const labels = [s.rec.id, s.rec.config.metadata?.name ?? '', s.rec.image];
  const out: cri.Metric[] = [];
  const t = s.task;
  if (t) {
    const c = t.cpu;
    const m = t.memory;
    out.push(
      metric(M.cpuUser, COUNTER, labels, c.userNs / NS_PER_S),
      metric(M.cpuSystem, COUNTER, labels, c.systemNs / NS_PER_S),
      metric(M.cpuUsage, COUNTER, labels, c.usageNs / NS_PER_S),
      metric(M.cfsPeriods, COUNTER, labels, c.periods),
      metric(M.cfsThrottledPeriods, COUNTER, labels, c.throttledPeriods),
      metric(M.cfsThrottledSeconds, COUNTER, labels, c.throttledNs / NS_PER_S),
      metric(M.memCache, GAUGE, labels, m.cache),
      metric(M.memRss, GAUGE, labels, m.rss),
      metric(M.memKernel, GAUGE, labels, m.kernel),
      metric(M.memMapped, GAUGE, labels, m.mappedFile),
      metric(M.memFailcnt, COUNTER, labels, m.failcnt),
      metric(M.memUsage, GAUGE, labels, m.usage),
      metric(M.memMaxUsage, GAUGE, labels, m.maxUsage),
      metric(M.memWorkingSet, GAUGE, labels, m.workingSet),
      metric(M.memActiveFile, GAUGE, labels, m.activeFile),
      metric(M.memInactiveFile, GAUGE, labels, m.inactiveFile),
      metric(M.memFailures, COUNTER, [...labels, 'pgfault', 'hierarchy'], m.pageFaults),
      metric(M.memFailures, COUNTER, [...labels, 'pgmajfault', 'hierarchy'], m.majorPageFaults),
      metric(M.processes, GAUGE, labels, t.pids.current),
      metric(M.threadsMax, GAUGE, labels, t.pids.limit ?? 0n),
      metric(M.specMemoryLimit, GAUGE, labels, m.limit ?? 0n),
    );
    if (t.swap) out.push(metric(M.memSwap, GAUGE, labels, t.swap.usage));
    if (t.oomKills !== undefined) out.push(metric(M.oomEvents, COUNTER, labels, t.oomKills));
  }
  if (s.layer) out.push(metric(M.fsUsage, GAUGE, [...labels, fsDevice], s.layer.bytes, s.layer.timestamp));
  return { containerId: s.rec.id, metrics: out };
}

export function podSandboxMetrics(p: PodSample, fsDevice: string): cri.PodSandboxMetrics {
  const P = POD_METRICS;
  const labels = [p.rec.id, 'POD', p.rec.image];
  const metrics: cri.Metric[] = [];
  const n = p.network;
  if (n) {
    for (const i of [...(n.defaultInterface ? [n.defaultInterface] : []), ...n.others]) {
      const l = [...labels, i.name];
      metrics.push(
        metric(P.rxBytes, COUNTER, l, i.rxBytes),
        metric(P.rxPackets, COUNTER, l, i.rxPackets),
        metric(P.rxDropped, COUNTER, l, i.rxDropped),
        metric(P.rxErrors, COUNTER, l, i.rxErrors),
        metric(P.txBytes, COUNTER, l, i.txBytes),
        metric(P.txPackets, COUNTER, l, i.txPackets),
        metric(P.txDropped, COUNTER, l, i.txDropped),
        metric(P.txErrors, COUNTER, l, i.txErrors),
      );
    }
  }
  return { podSandboxId: p.rec.id, metrics, containerMetrics: p.containers.map((c) => containerMetrics(c, fsDevice)) };
}
