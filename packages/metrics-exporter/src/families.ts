// A scrape → Prometheus metric families, with cAdvisor's names, units and labels (see target.ts for
// the labels). Units as cAdvisor publishes them: seconds (cpu, throttled time: ns / 1e9), bytes,
// counts; container_spec_memory_limit_bytes and container_threads_max are 0 when unlimited.
// Network families carry the sandbox's labels (container="") and one series per interface but lo.
import { CONTAINER_METRICS as M, LIFECYCLE_METRICS as L, MetricName, POD_METRICS as P } from './cadvisor-names';
import type { ContainerScrape, Scrape } from './scrape';

export const IDENTITY_LABELS = ['container', 'id', 'image', 'name', 'namespace', 'pod'] as const;

export type Labels = Record<string, string>;

export interface Family {
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  labelNames: string[];
  series: { labels: Labels; value: number }[];
}

const NS_PER_S = 1e9;
const num = (v: bigint): number => Number(v);
const seconds = (ns: bigint): number => Number(ns) / NS_PER_S;

export function identityLabels(c: ContainerScrape): Labels {
  const t = c.target;
  return { container: t.container, id: t.cgroup, image: t.image, name: t.id, namespace: t.namespace, pod: t.pod };
}

class Families {
  private readonly byName = new Map<string, Family>();

  add(m: MetricName, type: Family['type'], labels: Labels, value: number, extra: Labels = {}): void {
    let f = this.byName.get(m.name);
    if (!f) {
      f = { name: m.name, help: m.help, type, labelNames: [...IDENTITY_LABELS, ...(m.extra ?? [])], series: [] };
      this.byName.set(m.name, f);
    }
    f.series.push({ labels: { ...labels, ...extra }, value });
  }

  all(): Family[] {
    return [...this.byName.values()];
  }
}

function addContainer(out: Families, c: ContainerScrape, s: Scrape): void {
  const l = identityLabels(c);
  const { cpu, memory: m, pids } = c.task;
  out.add(M.cpuUser, 'counter', l, seconds(cpu.userNs));
  out.add(M.cpuSystem, 'counter', l, seconds(cpu.systemNs));
  out.add(M.cpuUsage, 'counter', l, seconds(cpu.usageNs));
  out.add(M.cfsPeriods, 'counter', l, num(cpu.periods));
  out.add(M.cfsThrottledPeriods, 'counter', l, num(cpu.throttledPeriods));
  out.add(M.cfsThrottledSeconds, 'counter', l, seconds(cpu.throttledNs));
  out.add(M.memUsage, 'gauge', l, num(m.usage));
  out.add(M.memWorkingSet, 'gauge', l, num(m.workingSet));
  out.add(M.memRss, 'gauge', l, num(m.rss));
  out.add(M.memCache, 'gauge', l, num(m.cache));
  out.add(M.memMapped, 'gauge', l, num(m.mappedFile));
  out.add(M.memKernel, 'gauge', l, num(m.kernel));
  out.add(M.memMaxUsage, 'gauge', l, num(m.maxUsage));
  out.add(M.memFailcnt, 'counter', l, num(m.failcnt));
  out.add(M.memActiveFile, 'gauge', l, num(m.activeFile));
  out.add(M.memInactiveFile, 'gauge', l, num(m.inactiveFile));
  out.add(M.memFailures, 'counter', l, num(m.pageFaults), { failure_type: 'pgfault', scope: 'hierarchy' });
  out.add(M.memFailures, 'counter', l, num(m.majorPageFaults), { failure_type: 'pgmajfault', scope: 'hierarchy' });
  out.add(M.specMemoryLimit, 'gauge', l, num(m.limit ?? 0n));
  if (c.task.swap) out.add(M.memSwap, 'gauge', l, num(c.task.swap.usage));
  if (c.task.oomKills !== undefined) out.add(M.oomEvents, 'counter', l, num(c.task.oomKills));
  out.add(M.processes, 'gauge', l, num(pids.current));
  out.add(M.threadsMax, 'gauge', l, num(pids.limit ?? 0n));
  if (c.layer) out.add(M.fsUsage, 'gauge', l, num(c.layer.bytes), { device: s.device });
  out.add(L.startTime, 'gauge', l, c.target.createdAt);
  out.add(L.lastSeen, 'gauge', l, s.at);
  const n = c.network;
  if (n) {
    for (const i of [...(n.defaultInterface ? [n.defaultInterface] : []), ...n.others]) {
      const x = { interface: i.name };
      out.add(P.rxBytes, 'counter', l, num(i.rxBytes), x);
      out.add(P.rxPackets, 'counter', l, num(i.rxPackets), x);
      out.add(P.rxDropped, 'counter', l, num(i.rxDropped), x);
      out.add(P.rxErrors, 'counter', l, num(i.rxErrors), x);
      out.add(P.txBytes, 'counter', l, num(i.txBytes), x);
      out.add(P.txPackets, 'counter', l, num(i.txPackets), x);
      out.add(P.txDropped, 'counter', l, num(i.txDropped), x);
      out.add(P.txErrors, 'counter', l, num(i.txErrors), x);
    }
  }
}

export function containerFamilies(s: Scrape): Family[] {
  const out = new Families();
  for (const c of s.containers) addContainer(out, c, s);
  return out.all();
}

/** Every name containerFamilies may publish (for dashboards' and tests' checks). */
export function containerMetricNames(): string[] {
  return [...Object.values(M), ...Object.values(P), ...Object.values(L)].map((x) => x.name);
}
