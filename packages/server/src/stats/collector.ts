// Collects the samples every stats RPC answers from, with a bounded cost per call:
// - Tasks.Metrics naming all the tasks asked about (containers and pause containers), one
//   `id==<id>` filter per task. containerd ORs the filters and asks only the matching tasks' shims
//   for their cgroup stats; with no filter it would ask every task of the namespace (other clients'
//   included), so crisp always names its tasks, and makes no call when there are none to name. One
//   call up to 31 tasks; more are split in up to 4 disjoint concurrent calls (metricsGroups: the
//   shims answer in parallel rather than one by one), each shim still asked once;
// - writable layer usage through WritableLayerUsage (bounded concurrency, 10 s cache);
// - pod network counters from /proc/<pause pid>/net/dev (bounded concurrency);
// - usage_nano_cores from the CpuRateTracker.
// Per-container state (rate samples, layer cache, pause pids) is pruned against the container and
// sandbox stores on every collection, so it never outlives the containers it describes.
import type { metrics as metricsPb } from '@crisp/api';
import type { ContainerRecord } from '../container/record';
import { mapLimit } from '../image/concurrency';
import type { Logger } from '../log';
import type { SandboxRecord } from '../sandbox/record';
import { CpuRateTracker } from './cpu-rate';
import { LayerUsage, PodNetwork, PodNetworkReader, TaskStats, WritableLayerUsage, decodeMetrics, metricsGroups } from '@crisp/metrics-exporter';

/** /proc reads of pod network counters in flight at once. */
const NETWORK_CONCURRENCY = 16;

export interface ContainerSample {
  rec: ContainerRecord;
  /** Absent when the container has no running task. */
  task?: TaskStats;
  nanoCores?: bigint;
  layer?: LayerUsage;
}

export interface PodSample {
  rec: SandboxRecord;
  /** The pause container's task; absent when it does not run (the pod is not ready). */
  pause?: TaskStats;
  pauseNanoCores?: bigint;
  /** The pod's containers that have a running task. */
  containers: ContainerSample[];
  network?: PodNetwork;
}

export interface StatsSources {
  /** Tasks.Metrics with filters. */
  metrics(filters: string[], signal?: AbortSignal): Promise<metricsPb.Metric[]>;
  layers: WritableLayerUsage;
  network: PodNetworkReader;
  containers(): ContainerRecord[];
  sandboxes(): SandboxRecord[];
  /** The pause process's pid, 0 when it does not run. */
  pausePid(sandboxId: string, signal?: AbortSignal): Promise<number>;
  logger?: Logger;
}

function nanos(s: string): bigint | undefined {
  try {
    return BigInt(s);
  } catch {
    return undefined;
  }
}

export class StatsCollector {
  readonly cpu = new CpuRateTracker();

  constructor(private readonly src: StatsSources) {}

  /** One Tasks.Metrics call for `ids` (none for an empty list); tasks without a readable metric are left out. */
  async taskStats(ids: readonly string[], signal?: AbortSignal): Promise<Map<string, TaskStats>> {
    if (ids.length === 0) return new Map();
    const wanted = new Set(ids);
    const answers = await Promise.all(metricsGroups(wanted).map((filters) => this.src.metrics(filters, signal)));
    return decodeMetrics(answers.flat(), wanted, (taskId, err) =>
      this.src.logger?.warn({ taskId, err }, 'unreadable task metrics: ignored'),
    );
  }

  /** Drops the state of containers and pods the stores no longer know. */
  private prune(): void {
    const containers = new Set(this.src.containers().map((c) => c.id));
    const sandboxes = new Set(this.src.sandboxes().map((s) => s.id));
    this.cpu.retain(new Set([...containers, ...sandboxes]));
    this.src.layers.retain(containers);
    this.src.network.retain(sandboxes);
  }

  private sampleOf(rec: ContainerRecord, task: TaskStats | undefined): ContainerSample {
    if (!task) return { rec };
    const nanoCores = this.cpu.observe(rec.id, task.cpu.usageNs, task.timestamp, nanos(rec.createdAt));
    return { rec, task, ...(nanoCores !== undefined ? { nanoCores } : {}) };
  }

  private async withLayers(samples: ContainerSample[], signal?: AbortSignal): Promise<ContainerSample[]> {
    const layers = await this.src.layers.get(samples.map((s) => s.rec.id), signal);
    return samples.map((s) => {
      const layer = layers.get(s.rec.id);
      return layer ? { ...s, layer } : s;
    });
  }

  /**
   * Samples of `recs`: with `runningOnly`, those without a running task are left out (what
   * ListContainerStats answers); otherwise they come with their writable layer only.
   */
  async containers(recs: readonly ContainerRecord[], runningOnly: boolean, signal?: AbortSignal): Promise<ContainerSample[]> {
    this.prune();
    const tasks = await this.taskStats(recs.map((r) => r.id), signal);
    const samples = recs.map((r) => this.sampleOf(r, tasks.get(r.id))).filter((s) => !runningOnly || s.task);
    return this.withLayers(samples, signal);
  }

  /**
   * Samples of pods with their running containers. `layers` adds the writable layers of those
   * containers (pod stats list them; not needed for every caller). With `readyOnly`, pods whose
   * pause container does not run are left out.
   */
  async pods(recs: readonly SandboxRecord[], opts: { readyOnly: boolean; layers: boolean }, signal?: AbortSignal): Promise<PodSample[]> {
    this.prune();
    const wanted = new Set(recs.map((r) => r.id));
    const byPod = new Map<string, ContainerRecord[]>();
    for (const c of this.src.containers()) {
      if (!wanted.has(c.sandboxId)) continue;
      const list = byPod.get(c.sandboxId);
      if (list) list.push(c);
      else byPod.set(c.sandboxId, [c]);
    }
    const containerRecs = [...byPod.values()].flat();
    const tasks = await this.taskStats([...wanted, ...containerRecs.map((c) => c.id)], signal);

    let pods: PodSample[] = recs.map((rec) => {
      const pause = tasks.get(rec.id);
      const pauseNanoCores = pause ? this.cpu.observe(rec.id, pause.cpu.usageNs, pause.timestamp, nanos(rec.createdAt)) : undefined;
      const containers = (byPod.get(rec.id) ?? []).map((c) => this.sampleOf(c, tasks.get(c.id))).filter((s) => s.task);
      return { rec, ...(pause ? { pause } : {}), ...(pauseNanoCores !== undefined ? { pauseNanoCores } : {}), containers };
    });
    if (opts.readyOnly) pods = pods.filter((p) => p.pause);

    const [withLayers, networks] = await Promise.all([
      opts.layers ? this.withLayers(pods.flatMap((p) => p.containers), signal) : Promise.resolve(undefined),
      mapLimit(pods, NETWORK_CONCURRENCY, (p) =>
        p.pause ? this.src.network.read(p.rec.id, p.rec.netnsPath, () => this.src.pausePid(p.rec.id, signal)).catch(() => undefined) : Promise.resolve(undefined),
      ),
    ]);
    const layered = new Map((withLayers ?? []).map((s) => [s.rec.id, s]));
    return pods.map((p, i) => {
      const network = networks[i];
      return {
        ...p,
        containers: p.containers.map((c) => layered.get(c.rec.id) ?? c),
        ...(network ? { network } : {}),
      };
    });
  }
}
