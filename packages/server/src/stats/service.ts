// What the stats RPCs do, over one StatsCollector per server context (its rate samples and caches
// must outlive a call). The RPC files in src/rpc/ are one-liners over these.
import type { cri } from '@crisp/api';
import type { CrispContext } from '../context';
import { snapshotterMountpoint } from '../image/fs-info';
import { StatsCollector } from './collector';
import { criContainerStats, criPodStats } from './cri';
import { selectContainers, selectSandboxes } from './filters';
import { metricDescriptors, podSandboxMetrics } from './metrics';
import { PodNetworkReader, WritableLayerUsage, deviceOf } from '@crisp/metrics-exporter';

interface Stats {
  collector: StatsCollector;
  /** The filesystem the writable layers live on, as ImageFsInfo names it (kubelet matches the two). */
  mountpoint: string;
  device: Promise<string>;
}

const byContext = new WeakMap<CrispContext, Stats>();

export function statsFor(ctx: CrispContext): Stats {
  let s = byContext.get(ctx);
  if (!s) {
    const { containerd, config } = ctx;
    const log = ctx.logger.child({ component: 'stats' });
    const mountpoint = snapshotterMountpoint(config.containerd.root, config.containerd.snapshotter);
    const collector = new StatsCollector({
      metrics: async (filters, signal) => (await containerd.tasks.metrics({ filters }, { signal })).metrics,
      layers: WritableLayerUsage.forContainerd(containerd, config.containerd.snapshotter, (id, err) =>
        log.debug({ containerId: id, err }, 'writable layer usage unavailable'),
      ),
      network: new PodNetworkReader(),
      containers: () => ctx.containers.store.all(),
      sandboxes: () => ctx.sandboxes.store.all(),
      pausePid: async (id, signal) => (await ctx.sandboxes.state(id, signal)).pid,
      logger: log,
    });
    s = { collector, mountpoint, device: deviceOf(mountpoint) };
    byContext.set(ctx, s);
  }
  return s;
}

async function ready(ctx: CrispContext): Promise<void> {
  await Promise.all([ctx.containers.ready(), ctx.sandboxes.ready()]);
}

const byCreation = <T extends { rec: { createdAt: string } }>(a: T, b: T): number => {
  const x = BigInt(a.rec.createdAt);
  const y = BigInt(b.rec.createdAt);
  return x < y ? -1 : x > y ? 1 : 0;
};

/** One container's stats; NOT_FOUND for an unknown id. A container that does not run has only its writable layer. */
export async function containerStats(ctx: CrispContext, id: string, signal?: AbortSignal): Promise<cri.ContainerStats> {
  await ready(ctx);
  const rec = ctx.containers.store.mustFind(id);
  const s = statsFor(ctx);
  const [sample] = await s.collector.containers([rec], false, signal);
  return criContainerStats(sample!, s.mountpoint);
}

/** Stats of the running containers the filter selects. */
export async function listContainerStats(ctx: CrispContext, filter: cri.ContainerStatsFilter | undefined, signal?: AbortSignal): Promise<cri.ContainerStats[]> {
  await ready(ctx);
  const s = statsFor(ctx);
  const recs = selectContainers(ctx.containers.store.all(), filter);
  const samples = await s.collector.containers(recs, true, signal);
  return samples.sort(byCreation).map((x) => criContainerStats(x, s.mountpoint));
}

/** One pod's stats; NOT_FOUND for an unknown id. A pod that is not ready has no cpu, memory or network. */
export async function podSandboxStats(ctx: CrispContext, id: string, signal?: AbortSignal): Promise<cri.PodSandboxStats> {
  await ready(ctx);
  const rec = ctx.sandboxes.store.mustFind(id);
  const s = statsFor(ctx);
  const [pod] = await s.collector.pods([rec], { readyOnly: false, layers: true }, signal);
  return criPodStats(pod!, s.mountpoint);
}

/** Stats of the ready pods the filter selects. */
export async function listPodSandboxStats(ctx: CrispContext, filter: cri.PodSandboxStatsFilter | undefined, signal?: AbortSignal): Promise<cri.PodSandboxStats[]> {
  await ready(ctx);
  const s = statsFor(ctx);
  const pods = await s.collector.pods(selectSandboxes(ctx.sandboxes.store.all(), filter), { readyOnly: true, layers: true }, signal);
  return pods.sort(byCreation).map((p) => criPodStats(p, s.mountpoint));
}

export function listMetricDescriptors(): cri.MetricDescriptor[] {
  return metricDescriptors();
}

/** Metrics of every ready pod and its running containers. */
export async function listPodSandboxMetrics(ctx: CrispContext, signal?: AbortSignal): Promise<cri.PodSandboxMetrics[]> {
  await ready(ctx);
  const s = statsFor(ctx);
  const [pods, device] = await Promise.all([s.collector.pods(ctx.sandboxes.store.all(), { readyOnly: true, layers: true }, signal), s.device]);
  return pods.sort(byCreation).map((p) => podSandboxMetrics(p, device));
}
