import { Any, containers } from '@crisp/api';
import { nanosToTimestamp } from '@crisp/containerd';
import parseText from 'parse-prometheus-text-format';
import { TaskStats } from '../src/decode';
import { containerFamilies, containerMetricNames } from '../src/families';
import { registryOf } from '../src/registry';
import type { Scrape } from '../src/scrape';
import { cgroupName, expandSlice, targetOf } from '../src/target';

const MiB = 1024n * 1024n;

function ctr(id: string, labels: Record<string, string>, spec: object, image = 'docker.io/library/busybox:1.36'): containers.Container {
  return {
    id,
    labels,
    image,
    runtime: { name: 'io.containerd.runc.v2', options: undefined },
    spec: Any.fromPartial({ typeUrl: 'types.containerd.io/opencontainers/runtime-spec/1/Spec', value: Buffer.from(JSON.stringify(spec)) }),
    snapshotter: 'overlayfs',
    snapshotKey: id,
    createdAt: nanosToTimestamp(1_700_000_000_500_000_000n),
    updatedAt: undefined,
    extensions: {},
    sandbox: '',
  };
}

function task(id: string): TaskStats {
  return {
    id,
    timestamp: 1n,
    cgroup: 'v1',
    cpu: { usageNs: 2_500_000_000n, userNs: 2_000_000_000n, systemNs: 500_000_000n, periods: 10n, throttledPeriods: 3n, throttledNs: 250_000_000n },
    memory: {
      usage: 80n * MiB, workingSet: 70n * MiB, rss: 60n * MiB, cache: 20n * MiB, mappedFile: 1n, kernel: 2n, activeFile: 3n, inactiveFile: 10n * MiB,
      pageFaults: 100n, majorPageFaults: 5n, maxUsage: 90n * MiB, limit: 100n * MiB, failcnt: 4n, available: 30n * MiB,
    },
    pids: { current: 3n, limit: undefined },
    oomKills: 1n,
  };
}

// containerd's CRI plugin: kubelet's labels on the containerd container; systemd cgroup driver.
const byContainerdCri = ctr(
  'c1',
  { 'io.kubernetes.pod.name': 'web-0', 'io.kubernetes.pod.namespace': 'shop', 'io.kubernetes.container.name': 'nginx', 'io.cri-containerd.kind': 'container' },
  { annotations: { 'io.kubernetes.cri.container-type': 'container' }, linux: { cgroupsPath: 'kubepods-burstable-podu1.slice:cri-containerd:c1' } },
);
// crisp: no kubelet labels on the containerd object, the CRI annotations in the spec; cgroupfs.
const sandboxByCrisp = ctr(
  'p1',
  { 'io.crisp.kind': 'sandbox' },
  {
    annotations: { 'io.kubernetes.cri.container-type': 'sandbox', 'io.kubernetes.cri.sandbox-name': 'web-0', 'io.kubernetes.cri.sandbox-namespace': 'shop' },
    linux: { cgroupsPath: '/kubepods/burstable/podu1/p1', namespaces: [{ type: 'network', path: '/var/run/netns/cni-1' }] },
  },
  'registry.k8s.io/pause:3.10',
);

describe('targets', () => {
  it('reads the Kubernetes identity from kubelet labels, else from the CRI annotations', () => {
    expect(targetOf(byContainerdCri, 'k8s.io')).toMatchObject({ kind: 'container', namespace: 'shop', pod: 'web-0', container: 'nginx', image: 'docker.io/library/busybox:1.36', createdAt: 1_700_000_000.5 });
    expect(targetOf(byContainerdCri, 'k8s.io').netns).toBeUndefined();
    expect(targetOf(sandboxByCrisp, 'k8s.io')).toMatchObject({ kind: 'sandbox', namespace: 'shop', pod: 'web-0', container: '', netns: '/var/run/netns/cni-1', cgroup: '/kubepods/burstable/podu1/p1' });
    const own = ctr('p2', { 'io.kubernetes.pod.name': 'x' }, { linux: { namespaces: [{ type: 'network' }] } });
    expect(targetOf(own, 'k8s.io')).toMatchObject({ kind: 'sandbox', netns: 'own', cgroup: '/k8s.io/p2' });
    const host = ctr('p3', { 'io.kubernetes.pod.name': 'x' }, { linux: { namespaces: [{ type: 'pid' }] } });
    expect(targetOf(host, 'k8s.io').netns).toBeUndefined();
    const plain = ctr('other', {}, {});
    expect(targetOf(plain, 'default')).toMatchObject({ kind: 'other', namespace: '', pod: '', container: '', cgroup: '/default/other' });
    expect(targetOf({ ...plain, spec: Any.fromPartial({ value: Buffer.from('{not json') }) }, 'd').kind).toBe('other');
  });

  it('names cgroups as cAdvisor does for both drivers', () => {
    expect(expandSlice('kubepods-burstable-podu1.slice')).toBe('/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-podu1.slice');
    expect(cgroupName('kubepods-burstable-podu1.slice:cri-containerd:c1', 'k8s.io', 'c1')).toBe(
      '/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-podu1.slice/cri-containerd-c1.scope',
    );
    expect(cgroupName(':crisp:c1', 'k8s.io', 'c1')).toBe('/system.slice/crisp-c1.scope');
    expect(cgroupName('/kubepods/podu1/c1', 'k8s.io', 'c1')).toBe('/kubepods/podu1/c1');
    expect(cgroupName(undefined, 'k8s.io', 'c1')).toBe('/k8s.io/c1');
  });
});

describe('container families', () => {
  const scrape: Scrape = {
    at: 1_700_000_100,
    device: '/dev/sda1',
    containers: [
      { target: targetOf(byContainerdCri, 'k8s.io'), task: task('c1'), layer: { bytes: 10n * MiB, inodes: 7n, timestamp: 1n } },
      {
        target: targetOf(sandboxByCrisp, 'k8s.io'),
        task: { ...task('p1'), swap: { usage: 1n * MiB, limit: undefined, available: undefined } },
        network: {
          timestamp: 1n,
          defaultInterface: { name: 'eth0', rxBytes: 1000n, rxPackets: 10n, rxErrors: 1n, rxDropped: 2n, txBytes: 500n, txPackets: 5n, txErrors: 0n, txDropped: 0n },
          others: [{ name: 'net1', rxBytes: 7n, rxPackets: 1n, rxErrors: 0n, rxDropped: 0n, txBytes: 0n, txPackets: 0n, txErrors: 0n, txDropped: 0n }],
        },
      },
    ],
  };

  it('publishes cAdvisor names, units and labels, through prom-client', async () => {
    const text = await registryOf(containerFamilies(scrape)).metrics();
    const families = new Map(parseText(text).map((f) => [f.name, f]));
    const get = (name: string, labels: Record<string, string>): number => {
      const f = families.get(name);
      const m = f?.metrics.find((x) => Object.entries(labels).every(([k, v]) => x.labels?.[k] === v));
      if (!m || !('value' in m)) throw new Error(`no ${name} ${JSON.stringify(labels)}`);
      return Number(m.value);
    };
    const c1 = { name: 'c1' };
    const nginx = families.get('container_cpu_usage_seconds_total')!.metrics.find((m) => m.labels?.['name'] === 'c1')!;
    expect(nginx.labels).toEqual({
      container: 'nginx',
      id: '/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-podu1.slice/cri-containerd-c1.scope',
      image: 'docker.io/library/busybox:1.36',
      name: 'c1',
      namespace: 'shop',
      pod: 'web-0',
    });
    expect(families.get('container_cpu_usage_seconds_total')!.type).toBe('COUNTER');
    expect(families.get('container_memory_working_set_bytes')!.type).toBe('GAUGE');
    // Seconds, not nanoseconds.
    expect(get('container_cpu_usage_seconds_total', c1)).toBe(2.5);
    expect(get('container_cpu_user_seconds_total', c1)).toBe(2);
    expect(get('container_cpu_system_seconds_total', c1)).toBe(0.5);
    expect(get('container_cpu_cfs_periods_total', c1)).toBe(10);
    expect(get('container_cpu_cfs_throttled_periods_total', c1)).toBe(3);
    expect(get('container_cpu_cfs_throttled_seconds_total', c1)).toBe(0.25);
    expect(get('container_memory_working_set_bytes', c1)).toBe(70 * 1024 * 1024);
    expect(get('container_memory_usage_bytes', c1)).toBe(80 * 1024 * 1024);
    expect(get('container_memory_rss', c1)).toBe(60 * 1024 * 1024);
    expect(get('container_memory_cache', c1)).toBe(20 * 1024 * 1024);
    expect(get('container_memory_failcnt', c1)).toBe(4);
    expect(get('container_spec_memory_limit_bytes', c1)).toBe(100 * 1024 * 1024);
    expect(get('container_memory_failures_total', { name: 'c1', failure_type: 'pgmajfault', scope: 'hierarchy' })).toBe(5);
    expect(get('container_oom_events_total', c1)).toBe(1);
    expect(get('container_processes', c1)).toBe(3);
    expect(get('container_threads_max', c1)).toBe(0);
    expect(get('container_fs_usage_bytes', { name: 'c1', device: '/dev/sda1' })).toBe(10 * 1024 * 1024);
    expect(get('container_start_time_seconds', c1)).toBe(1_700_000_000.5);
    expect(get('container_last_seen', c1)).toBe(1_700_000_100);
    // Swap only where accounted; network only on the sandbox, one series per interface.
    expect(families.get('container_memory_swap')!.metrics.map((m) => m.labels?.['name'])).toEqual(['p1']);
    const rx = families.get('container_network_receive_bytes_total')!.metrics;
    expect(rx.map((m) => [m.labels?.['name'], m.labels?.['interface'], m.labels?.['container'], m.labels?.['pod']])).toEqual([
      ['p1', 'eth0', '', 'web-0'],
      ['p1', 'net1', '', 'web-0'],
    ]);
    expect(get('container_network_receive_packets_dropped_total', { interface: 'eth0' })).toBe(2);
    expect(get('container_network_receive_errors_total', { interface: 'eth0' })).toBe(1);
    expect(get('container_network_transmit_bytes_total', { interface: 'eth0' })).toBe(500);
    // Every family published is one containerMetricNames() lists (what the dashboard test checks against).
    const known = new Set(containerMetricNames());
    for (const name of families.keys()) expect(known.has(name)).toBe(true);
  });

  it('publishes nothing for a scrape without containers (no stale series)', async () => {
    expect(containerFamilies({ ...scrape, containers: [] })).toEqual([]);
    expect((await registryOf(containerFamilies({ ...scrape, containers: [] })).metrics()).trim()).toBe('');
  });
});
