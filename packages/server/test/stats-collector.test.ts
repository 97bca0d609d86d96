import { Any, cgroup1, cri, metrics } from '@crisp/api';
import { nanosToTimestamp } from '@crisp/containerd';
import type { ContainerRecord } from '../src/container/record';
import type { SandboxRecord } from '../src/sandbox/record';
import { StatsCollector, StatsSources } from '../src/stats/collector';
import { criContainerStats, criPodStats, podTotals } from '../src/stats/cri';
import { selectContainers, selectSandboxes } from '../src/stats/filters';
import { CGROUP_V1_METRICS, PodNetworkReader, WritableLayerUsage, mountSourceOf } from '@crisp/metrics-exporter';
import { CONTAINER_METRICS, POD_METRICS, metricDescriptors, podSandboxMetrics } from '../src/stats/metrics';

const S = 1_000_000_000n;
const MiB = 1024n * 1024n;
const NOW = 1_700_000_000n * S;

function sandbox(id: string, labels: Record<string, string> = {}, createdAt = NOW - 3600n * S): SandboxRecord {
  return {
    id,
    config: cri.PodSandboxConfig.fromPartial({ metadata: { name: `pod-${id}`, namespace: 'ns', uid: id }, labels }),
    configHash: '',
    runtimeHandler: '',
    runtime: 'io.containerd.runc.v2',
    netnsPath: `/var/run/netns/${id}`,
    ips: [],
    createdAt: createdAt.toString(),
    image: 'pause:3.9',
  };
}

function container(id: string, sandboxId: string, labels: Record<string, string> = {}, createdAt = NOW - 3600n * S): ContainerRecord {
  return {
    id,
    config: cri.ContainerConfig.fromPartial({ metadata: { name: `ctr-${id}` }, labels, annotations: { a: '1' } }),
    sandboxId,
    configHash: '',
    image: 'busybox:latest',
    imageId: 'sha256:x',
    imageRef: 'busybox@sha256:x',
    logPath: '',
    createdAt: createdAt.toString(),
    uid: 0,
    gid: 0,
    additionalGids: [],
    stopSignal: 15,
    volumeDirs: [],
  };
}

interface TaskFigures {
  cpuNs: bigint;
  usage?: bigint;
  inactive?: bigint;
  limit?: bigint;
  pids?: bigint;
}

function metric(id: string, at: bigint, f: TaskFigures): metrics.Metric {
  const m = cgroup1.Metrics.fromPartial({
    cpu: { usage: { total: f.cpuNs, user: f.cpuNs, kernel: 0n, perCpu: [] } },
    memory: { usage: { usage: f.usage ?? 0n, limit: f.limit ?? 9223372036854771712n }, totalInactiveFile: f.inactive ?? 0n, totalRss: f.usage ?? 0n },
    pids: { current: f.pids ?? 1n, limit: 0n },
  });
  const data: Any = { typeUrl: CGROUP_V1_METRICS, value: Buffer.from(cgroup1.Metrics.encode(m).finish()) };
  return metrics.Metric.fromPartial({ id, timestamp: nanosToTimestamp(at), data });
}

/** Fake sources: tasks answer from `tasks` (filtered as containerd does), calls are recorded. */
function fakeSources(containers: ContainerRecord[], sandboxes: SandboxRecord[]) {
  const calls: string[][] = [];
  const usageCalls: string[] = [];
  let now = NOW;
  const tasks = new Map<string, TaskFigures>();
  const src: StatsSources = {
    metrics: async (filters) => {
      calls.push(filters);
      const ids = new Set(filters.map((f) => f.replace(/^id==/, '')));
      return [...tasks.entries()].filter(([id]) => filters.length === 0 || ids.has(id)).map(([id, f]) => metric(id, now, f));
    },
    layers: new WritableLayerUsage(async (key) => {
      usageCalls.push(key);
      return { size: 10n * MiB, inodes: 42n };
    }),
    network: new PodNetworkReader('/nonexistent'),
    containers: () => containers,
    sandboxes: () => sandboxes,
    pausePid: async () => 0,
  };
  return { src, calls, usageCalls, tasks, advance: (ns: bigint) => (now += ns) };
}

describe('stats filters', () => {
  const cs = [container('aaa1', 'p1', { app: 'web' }), container('aaa2', 'p1', { app: 'db' }), container('bbb1', 'p2', { app: 'web' })];
  it('select containers by id prefix, pod id prefix and labels (ANDed)', () => {
    expect(selectContainers(cs, undefined).map((c) => c.id)).toEqual(['aaa1', 'aaa2', 'bbb1']);
    expect(selectContainers(cs, { id: 'aaa', podSandboxId: '', labelSelector: {} }).map((c) => c.id)).toEqual(['aaa1', 'aaa2']);
    expect(selectContainers(cs, { id: '', podSandboxId: 'p1', labelSelector: {} }).map((c) => c.id)).toEqual(['aaa1', 'aaa2']);
    expect(selectContainers(cs, { id: '', podSandboxId: '', labelSelector: { app: 'web' } }).map((c) => c.id)).toEqual(['aaa1', 'bbb1']);
    expect(selectContainers(cs, { id: '', podSandboxId: 'p2', labelSelector: { app: 'db' } })).toEqual([]);
  });

  it('select pods by id prefix and labels', () => {
    const ps = [sandbox('p1', { team: 'a' }), sandbox('p2', { team: 'b' })];
    expect(selectSandboxes(ps, { id: 'p', labelSelector: { team: 'b' } }).map((p) => p.id)).toEqual(['p2']);
    expect(selectSandboxes(ps, undefined)).toHaveLength(2);
  });
});

describe('StatsCollector', () => {
  it('asks Tasks.Metrics naming every task once, in up to 4 concurrent calls; none when there are none', async () => {
    const pods = [sandbox('p1')];
    const cs = Array.from({ length: 100 }, (_, i) => container(`c${i}`, 'p1'));
    const f = fakeSources(cs, pods);
    for (const c of cs) f.tasks.set(c.id, { cpuNs: S });
    f.tasks.set('other-clients-task', { cpuNs: S });
    const c = new StatsCollector(f.src);
    const samples = await c.containers(cs, true);
    expect(f.calls.map((x) => x.length)).toEqual([25, 25, 25, 25]);
    expect(f.calls.flat().sort()).toEqual(cs.map((x) => `id==${x.id}`).sort());
    expect(samples).toHaveLength(100);
    expect(await c.containers([], true)).toEqual([]);
    expect(f.calls).toHaveLength(4);
    await c.containers(cs.slice(0, 10), true);
    expect(f.calls[4]).toHaveLength(10);
  });

  it('lists running containers only, but answers a single stopped one with its writable layer', async () => {
    const cs = [container('run', 'p1'), container('stopped', 'p1')];
    const f = fakeSources(cs, [sandbox('p1')]);
    f.tasks.set('run', { cpuNs: S, usage: 100n * MiB, inactive: 30n * MiB, limit: 200n * MiB });
    const c = new StatsCollector(f.src);
    const list = await c.containers(cs, true);
    expect(list.map((s) => s.rec.id)).toEqual(['run']);
    const st = criContainerStats(list[0]!, '/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs');
    expect(st.attributes).toMatchObject({ id: 'run', metadata: { name: 'ctr-run' }, annotations: { a: '1' } });
    expect(st.cpu).toMatchObject({ timestamp: NOW, usageCoreNanoSeconds: { value: S } });
    expect(st.cpu?.usageNanoCores).toBeUndefined(); // created an hour ago: no window yet
    expect(st.memory).toMatchObject({ workingSetBytes: { value: 70n * MiB }, availableBytes: { value: 130n * MiB }, usageBytes: { value: 100n * MiB } });
    expect(st.writableLayer).toMatchObject({ fsId: { mountpoint: '/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs' }, usedBytes: { value: 10n * MiB }, inodesUsed: { value: 42n } });

    const [one] = await c.containers([cs[1]!], false);
    const st1 = criContainerStats(one!, '/x');
    expect(st1.cpu).toBeUndefined();
    expect(st1.memory).toBeUndefined();
    expect(st1.writableLayer?.usedBytes?.value).toBe(10n * MiB);
  });

  it('reports usage_nano_cores from two samples a few seconds apart', async () => {
    const cs = [container('busy', 'p1')];
    const f = fakeSources(cs, [sandbox('p1')]);
    f.tasks.set('busy', { cpuNs: 100n * S });
    const c = new StatsCollector(f.src);
    expect((await c.containers(cs, true))[0]!.nanoCores).toBeUndefined();
    f.advance(4n * S);
    f.tasks.set('busy', { cpuNs: 103n * S });
    expect((await c.containers(cs, true))[0]!.nanoCores).toBe(750_000_000n);
  });

  it('caches writable layer usage and drops the state of removed containers', async () => {
    const cs = [container('a', 'p1'), container('b', 'p1')];
    const f = fakeSources(cs, [sandbox('p1')]);
    f.tasks.set('a', { cpuNs: S });
    f.tasks.set('b', { cpuNs: S });
    const c = new StatsCollector(f.src);
    await c.containers(cs, true);
    await c.containers(cs, true);
    expect(f.usageCalls.sort()).toEqual(['a', 'b']);
    expect(c.cpu.size).toBe(2);
    cs.pop();
    await c.containers(cs, true);
    expect(c.cpu.size).toBe(1);
    expect(f.src.layers.size).toBe(1);
  });

  it('sums a pod over its running containers and its pause container', async () => {
    const pods = [sandbox('p1', {}, NOW - 10n * S), sandbox('p2')];
    const cs = [container('c1', 'p1', {}, NOW - 10n * S), container('c2', 'p1', {}, NOW - 10n * S), container('c3', 'p2')];
    const f = fakeSources(cs, pods);
    f.tasks.set('p1', { cpuNs: 0n, usage: 1n * MiB, pids: 1n });
    f.tasks.set('c1', { cpuNs: 5n * S, usage: 64n * MiB, inactive: 4n * MiB, limit: 128n * MiB, pids: 2n });
    f.tasks.set('c2', { cpuNs: 2n * S, usage: 8n * MiB, limit: 64n * MiB, pids: 3n });
    const c = new StatsCollector(f.src);
    const all = await c.pods(pods, { readyOnly: true, layers: true });
    expect(f.calls).toHaveLength(1);
    expect(f.calls[0]!.sort()).toEqual(['id==c1', 'id==c2', 'id==c3', 'id==p1', 'id==p2']);
    expect(all.map((p) => p.rec.id)).toEqual(['p1']); // p2's pause does not run
    const p = all[0]!;
    expect(p.containers.map((s) => s.rec.id)).toEqual(['c1', 'c2']);
    const t = podTotals(p)!;
    expect(t).toMatchObject({ cpuNs: 7n * S, usage: 73n * MiB, workingSet: 69n * MiB, processes: 6n, available: 192n * MiB - 69n * MiB });
    // Created 10 s ago: each member rates from its creation, the pod is their sum.
    expect(t.nanoCores).toBe(700_000_000n);
    const st = criPodStats(p, '/fs');
    expect(st.attributes).toMatchObject({ id: 'p1', metadata: { name: 'pod-p1' } });
    expect(st.linux?.cpu?.usageNanoCores?.value).toBe(700_000_000n);
    expect(st.linux?.memory?.workingSetBytes?.value).toBe(69n * MiB);
    expect(st.linux?.process?.processCount?.value).toBe(6n);
    expect(st.linux?.containers.map((x) => x.attributes?.id)).toEqual(['c1', 'c2']);
    expect(st.linux?.containers[0]?.writableLayer?.usedBytes?.value).toBe(10n * MiB);
    expect(st.linux?.network).toBeUndefined(); // no pause process to read from here

    // A pod whose pause does not run, asked for by id: attributes and nothing else.
    const [idle] = await c.pods([pods[1]!], { readyOnly: false, layers: true });
    expect(podTotals(idle!)).toBeUndefined();
    expect(criPodStats(idle!, '/fs').linux).toMatchObject({ cpu: undefined, memory: undefined, containers: [] });
  });

  it('has no pod memory available when a container has no limit, and no pod rate while a member has none', () => {
    const rec = sandbox('p');
    const cpu = { usageNs: 0n, userNs: 0n, systemNs: 0n, periods: 0n, throttledPeriods: 0n, throttledNs: 0n };
    const mem = { usage: 1n, workingSet: 1n, rss: 0n, cache: 0n, mappedFile: 0n, kernel: 0n, activeFile: 0n, inactiveFile: 0n, pageFaults: 0n, majorPageFaults: 0n, maxUsage: 0n, limit: undefined, failcnt: 0n, available: undefined };
    const task = (id: string) => ({ id, timestamp: 1n, cgroup: 'v1' as const, cpu, memory: mem, pids: { current: 1n, limit: undefined } });
    const t = podTotals({ rec, pause: task('p'), pauseNanoCores: 5n, containers: [{ rec: container('c', 'p'), task: task('c') }] })!;
    expect(t.available).toBeUndefined();
    expect(t.nanoCores).toBeUndefined();
  });
});

describe('CRI metrics', () => {
  it('describes cAdvisor names with id/name/image labels (kubelet adds namespace, pod, container)', () => {
    const descs = metricDescriptors();
    const names = descs.map((d) => d.name);
    for (const n of ['container_cpu_usage_seconds_total', 'container_memory_working_set_bytes', 'container_network_receive_bytes_total', 'container_fs_usage_bytes']) {
      expect(names).toContain(n);
    }
    expect(new Set(names).size).toBe(names.length);
    for (const d of descs) {
      expect(d.labelKeys.slice(0, 3)).toEqual(['id', 'name', 'image']);
      expect(d.labelKeys).not.toEqual(expect.arrayContaining(['namespace']));
      expect(d.labelKeys).not.toContain('pod');
      expect(d.labelKeys).not.toContain('container');
    }
    expect(descs.find((d) => d.name === POD_METRICS.rxBytes.name)?.labelKeys).toEqual(['id', 'name', 'image', 'interface']);
  });

  it('gives values in the descriptors units, with as many label values as keys', async () => {
    const pods = [sandbox('p1')];
    const cs = [container('c1', 'p1')];
    const f = fakeSources(cs, pods);
    f.tasks.set('p1', { cpuNs: 0n });
    f.tasks.set('c1', { cpuNs: 12_700_000_000n, usage: 80n * MiB, inactive: 10n * MiB, limit: 100n * MiB });
    const c = new StatsCollector(f.src);
    const [p] = await c.pods(pods, { readyOnly: true, layers: true });
    const withNet = {
      ...p!,
      network: {
        timestamp: 1n,
        defaultInterface: { name: 'eth0', rxBytes: 100n, rxPackets: 2n, rxErrors: 0n, rxDropped: 0n, txBytes: 50n, txPackets: 1n, txErrors: 0n, txDropped: 0n },
        others: [],
      },
    };
    const m = podSandboxMetrics(withNet, '/dev/sda1');
    const keys = new Map(metricDescriptors().map((d) => [d.name, d.labelKeys]));
    const all = [...m.metrics, ...m.containerMetrics.flatMap((x) => x.metrics)];
    for (const x of all) expect(x.labelValues).toHaveLength(keys.get(x.name)!.length);
    const get = (name: string) => all.find((x) => x.name === name)!;
    expect(get(CONTAINER_METRICS.cpuUsage.name)).toMatchObject({ metricType: cri.MetricType.COUNTER, timestamp: 0n, value: { value: 12n }, labelValues: ['c1', 'ctr-c1', 'busybox:latest'] });
    expect(get(CONTAINER_METRICS.memWorkingSet.name)).toMatchObject({ metricType: cri.MetricType.GAUGE, value: { value: 70n * MiB } });
    expect(get(CONTAINER_METRICS.specMemoryLimit.name).value?.value).toBe(100n * MiB);
    expect(get(CONTAINER_METRICS.fsUsage.name)).toMatchObject({ labelValues: ['c1', 'ctr-c1', 'busybox:latest', '/dev/sda1'], value: { value: 10n * MiB } });
    expect(get(CONTAINER_METRICS.fsUsage.name).timestamp).toBeGreaterThan(0n);
    expect(get(POD_METRICS.rxBytes.name)).toMatchObject({ labelValues: ['p1', 'POD', 'pause:3.9', 'eth0'], value: { value: 100n } });
    expect(m.containerMetrics.map((x) => x.containerId)).toEqual(['c1']);
  });
});

describe('fs device of the writable layers', () => {
  const mountinfo = [
    '22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw',
    '30 22 8:17 / /var/lib/containerd rw,relatime shared:9 - xfs /dev/sdb1 rw',
    '31 22 0:25 / /var/lib/containerd-old rw shared:10 - tmpfs tmpfs rw',
    '40 22 0:26 / /mnt/with\\040space rw - ext4 /dev/sdc1 rw',
  ].join('\n');
  it('is the source of the deepest mount holding the directory', () => {
    expect(mountSourceOf(mountinfo, '/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs')).toBe('/dev/sdb1');
    expect(mountSourceOf(mountinfo, '/var/lib/containerd-other')).toBe('/dev/sda1');
    expect(mountSourceOf(mountinfo, '/mnt/with space/x')).toBe('/dev/sdc1');
    expect(mountSourceOf('', '/x')).toBeUndefined();
  });
});
