// One scrape of container metrics, with a bounded cost whatever the container count:
// - one Containers.List (the targets; each spec is parsed once per container and kept while the
//   container exists) and ONE Tasks.Metrics naming every container with `id==` filters: containerd
//   asks only those tasks' shims, and leaves out the tasks that do not run (no cgroup);
// - then, for the running ones, concurrently: writable layer usage through WritableLayerUsage (8
//   walks at most in flight, 10 s cache) and pod network counters from /proc/<pause pid>/net/dev (16
//   reads at most in flight; the pause pid comes from Tasks.Get once per sandbox and is checked
//   against the namespace on every read).
// Everything kept per container is pruned against the Containers.List answer, so nothing outlives
// its container; each scrape's result is built anew, so a removed container has no series at the next.
import type { containers as containersPb } from '@crisp/api';
import { ContainerdClient, isNotFound } from '@crisp/containerd';
import { TaskStats, decodeMetrics } from './decode';
import { LayerUsage, WritableLayerUsage } from './layer-usage';
import { PodNetwork, PodNetworkReader } from './network';
import { eachLimited } from './pool';
import { taskFilters } from './task-filters';
import { Target, targetOf } from './target';

export const NETWORK_CONCURRENCY = 16;

export interface ContainerScrape {
  target: Target;
  task: TaskStats;
  layer?: LayerUsage;
  /** Sandboxes only. */
  network?: PodNetwork;
}

export interface Scrape {
  /** When it was taken, seconds since the epoch. */
  at: number;
  /** The `device` label of fs usage. */
  device: string;
  containers: ContainerScrape[];
}

export interface ScrapeLogger {
  warn(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

export interface ScraperOptions {
  containerd: ContainerdClient;
  /** The filesystem device of the writable layers (see fs-device.ts). */
  device: Promise<string> | string;
  logger?: ScrapeLogger;
  /** For tests: a /proc elsewhere. */
  procRoot?: string;
}

export class ContainerScraper {
  private readonly containerd: ContainerdClient;
  private readonly targets = new Map<string, Target>();
  private readonly layers: WritableLayerUsage;
  private readonly network: PodNetworkReader;

  constructor(private readonly opts: ScraperOptions) {
    this.containerd = opts.containerd;
    this.layers = WritableLayerUsage.forContainerd(
      opts.containerd,
      '',
      (id, err) => opts.logger?.debug({ containerId: id, err }, 'writable layer usage unavailable'),
      (id) => {
        const t = this.targets.get(id);
        return { snapshotter: t?.snapshotter ?? '', key: t?.snapshotKey ?? id };
      },
    );
    this.network = new PodNetworkReader(opts.procRoot);
  }

  /** Per-container state held (targets, layer cache, pause pids): bounded by the live containers. */
  get retained(): number {
    return this.targets.size + this.layers.size + this.network.size;
  }

  private refreshTargets(list: containersPb.Container[]): Target[] {
    const live = new Set<string>();
    const out: Target[] = [];
    for (const c of list) {
      live.add(c.id);
      let t = this.targets.get(c.id);
      if (!t) {
        t = targetOf(c, this.containerd.namespace);
        this.targets.set(c.id, t);
      }
      out.push(t);
    }
    for (const id of this.targets.keys()) if (!live.has(id)) this.targets.delete(id);
    this.layers.retain(live);
    this.network.retain(live);
    return out;
  }

  private async pausePid(id: string, signal?: AbortSignal): Promise<number> {
    try {
      return (await this.containerd.tasks.get({ containerId: id, execId: '' }, { signal })).process?.pid ?? 0;
    } catch (err) {
      if (isNotFound(err)) return 0;
      throw err;
    }
  }

  private async networks(sandboxes: Target[], signal?: AbortSignal): Promise<Map<string, PodNetwork>> {
    const out = new Map<string, PodNetwork>();
    await eachLimited(sandboxes, NETWORK_CONCURRENCY, async (t) => {
      let pid: number | undefined;
      const pidOf = async (): Promise<number> => (pid ??= await this.pausePid(t.id, signal));
      try {
        // A netns runc created has no pinned path: the pause process's own one is the namespace.
        const netns = t.netns === 'own' ? `${this.opts.procRoot ?? '/proc'}/${await pidOf()}/ns/net` : t.netns;
        const n = await this.network.read(t.id, netns, pidOf);
        if (n) out.set(t.id, n);
      } catch (err) {
        this.opts.logger?.debug({ sandboxId: t.id, err }, 'pod network counters unavailable');
      }
    });
    return out;
  }

  async scrape(signal?: AbortSignal): Promise<Scrape> {
    const at = Date.now() / 1000;
    const { containers } = await this.containerd.containers.list({ filters: [] }, { signal });
    const targets = this.refreshTargets(containers);
    const byId = new Map(targets.map((t) => [t.id, t]));
    if (targets.length === 0) return { at, device: await this.opts.device, containers: [] };
    const metrics = await this.containerd.tasks.metrics({ filters: taskFilters(byId.keys()) }, { signal });
    const tasks = decodeMetrics(metrics.metrics, byId, (id, err) => this.opts.logger?.warn({ containerId: id, err }, 'unreadable task metrics: ignored'));
    // No metrics: the task does not run (no cgroup to report), as cAdvisor sees only live cgroups.
    const running = targets.filter((t) => tasks.has(t.id));
    const [layers, networks, device] = await Promise.all([
      this.layers.get(running.map((t) => t.id), signal),
      this.networks(running.filter((t) => t.netns !== undefined), signal),
      this.opts.device,
    ]);
    const out: ContainerScrape[] = running.map((t) => {
      const layer = layers.get(t.id);
      const network = networks.get(t.id);
      return { target: t, task: tasks.get(t.id)!, ...(layer ? { layer } : {}), ...(network ? { network } : {}) };
    });
    return { at, device, containers: out };
  }
}
