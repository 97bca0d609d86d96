import { Any, cgroup1, containers } from '@crisp/api';
import type { ContainerdClient } from '@crisp/containerd';
import { CGROUP_V1_METRICS } from '../src/decode';
import { ContainerScraper } from '../src/scrape';

function container(id: string, kind: 'sandbox' | 'container'): containers.Container {
  const spec = { annotations: { 'io.kubernetes.cri.container-type': kind, 'io.kubernetes.cri.sandbox-name': 'web', 'io.kubernetes.cri.sandbox-namespace': 'shop', 'io.kubernetes.cri.container-name': id } };
  return containers.Container.fromPartial({ id, image: 'img', snapshotter: 'overlayfs', snapshotKey: `key-${id}`, spec: { typeUrl: 'spec', value: Buffer.from(JSON.stringify(spec)) } });
}

function metric(id: string, usage: bigint) {
  const value = cgroup1.Metrics.encode(cgroup1.Metrics.fromPartial({ cpu: { usage: { total: usage } }, memory: { usage: { usage: 1000n } } })).finish();
  return { id, timestamp: undefined, data: Any.fromPartial({ typeUrl: CGROUP_V1_METRICS, value: Buffer.from(value) }) };
}

describe('ContainerScraper', () => {
  it('makes one Tasks.Metrics call naming every container, reports the running ones, and forgets removed ones', async () => {
    let list = [container('a', 'container'), container('b', 'container'), container('stopped', 'container')];
    const metricsCalls: string[][] = [];
    const usageKeys: string[] = [];
    const fake = {
      namespace: 'k8s.io',
      containers: { list: async () => ({ containers: list }) },
      tasks: {
        metrics: async ({ filters }: { filters: string[] }) => {
          metricsCalls.push(filters);
          return { metrics: list.filter((c) => c.id !== 'stopped').map((c) => metric(c.id, 2_000_000_000n)) };
        },
        get: async () => ({ process: { pid: 0 } }),
      },
      snapshots: {
        usage: async ({ key }: { key: string }) => {
          usageKeys.push(key);
          return { size: 4096n, inodes: 2n };
        },
      },
    } as unknown as ContainerdClient;
    const scraper = new ContainerScraper({ containerd: fake, device: '/dev/vda1' });

    const first = await scraper.scrape();
    expect(metricsCalls).toEqual([['id==a', 'id==b', 'id==stopped']]);
    expect(first.containers.map((c) => c.target.id)).toEqual(['a', 'b']);
    expect(first.containers[0]).toMatchObject({ target: { pod: 'web', namespace: 'shop', container: 'a' }, task: { cpu: { usageNs: 2_000_000_000n } }, layer: { bytes: 4096n } });
    // The snapshot key the container names, not its id; a stopped container's layer is not walked.
    expect(usageKeys.sort()).toEqual(['key-a', 'key-b']);
    expect(first.device).toBe('/dev/vda1');

    list = [container('b', 'container')];
    const second = await scraper.scrape();
    expect(second.containers.map((c) => c.target.id)).toEqual(['b']);
    // targets (1) + layer cache (1) + pause pids (0): nothing of the removed containers is kept.
    expect(scraper.retained).toBe(2);

    list = [];
    expect((await scraper.scrape()).containers).toEqual([]);
    expect(metricsCalls).toHaveLength(2);
    expect(scraper.retained).toBe(0);
  });
});
