// Writable layer usage (bytes, inodes) of containers: Snapshots.Usage of the container's active
// snapshot. For overlayfs that is a walk of the upper directory (a `du`), so its cost grows with what
// the container wrote; crisp bounds it two ways:
// - at most USAGE_CONCURRENCY walks in flight, however many containers a call asks about;
// - an answer is reused for TTL_MS (10 s). kubelet polls stats every 10 s (its housekeeping period),
//   and one poll may ask twice (ListContainerStats and ListPodSandboxStats, plus the /metrics/cadvisor
//   scrape): with the cache a layer is walked at most once per period. Ephemeral-storage eviction
//   is decided at that same period, so 10 s old figures lose nothing. Concurrent asks for one
//   container share the walk in flight.
// The cache holds one entry per container the store knows and drops the others on retain(): it is
// bounded by the container count, not by time or traffic.
import { ContainerdClient, isNotFound } from '@crisp/containerd';
import { mapLimit } from '../image/concurrency';

export const USAGE_CONCURRENCY = 8;
export const TTL_MS = 10_000;

export interface LayerUsage {
  bytes: bigint;
  inodes: bigint;
  /** When it was measured, ns since the epoch. */
  timestamp: bigint;
}

type UsageFn = (key: string, signal?: AbortSignal) => Promise<{ size: bigint; inodes: bigint }>;

interface Entry {
  at: number;
  value?: LayerUsage;
  pending?: Promise<LayerUsage | undefined>;
}

export class WritableLayerUsage {
  private readonly cache = new Map<string, Entry>();

  constructor(
    private readonly usage: UsageFn,
    private readonly ttlMs = TTL_MS,
    private readonly concurrency = USAGE_CONCURRENCY,
    private readonly now: () => number = Date.now,
    private readonly onError: (id: string, err: unknown) => void = () => undefined,
  ) {}

  static forContainerd(containerd: ContainerdClient, snapshotter: string, onError?: (id: string, err: unknown) => void): WritableLayerUsage {
    return new WritableLayerUsage((key, signal) => containerd.snapshots.usage({ snapshotter, key }, { signal }), TTL_MS, USAGE_CONCURRENCY, Date.now, onError);
  }

  get size(): number {
    return this.cache.size;
  }

  /** Usage per container id (the snapshot key is the container id); absent when unknown or failed. */
  async get(ids: readonly string[], signal?: AbortSignal): Promise<Map<string, LayerUsage>> {
    const out = new Map<string, LayerUsage>();
    const now = this.now();
    const waits: Promise<void>[] = [];
    const stale: { id: string; done: (v: LayerUsage | undefined) => void }[] = [];
    for (const id of new Set(ids)) {
      const e = this.cache.get(id);
      if (e?.value && now - e.at < this.ttlMs) {
        out.set(id, e.value);
      } else if (e?.pending) {
        waits.push(e.pending.then((v) => void (v && out.set(id, v))));
      } else {
        // Register the walk before starting any, so that a concurrent call shares it.
        let done!: (v: LayerUsage | undefined) => void;
        const pending = new Promise<LayerUsage | undefined>((r) => (done = r));
        this.cache.set(id, { at: e?.at ?? 0, ...(e?.value ? { value: e.value } : {}), pending });
        waits.push(pending.then((v) => void (v && out.set(id, v))));
        stale.push({ id, done });
      }
    }
    await mapLimit(stale, this.concurrency, async ({ id, done }) => {
      let value: LayerUsage | undefined;
      try {
        const u = await this.usage(id, signal);
        value = { bytes: u.size > 0n ? u.size : 0n, inodes: u.inodes > 0n ? u.inodes : 0n, timestamp: BigInt(this.now()) * 1_000_000n };
      } catch (err) {
        if (!isNotFound(err) && !signal?.aborted) this.onError(id, err);
      }
      const cur = this.cache.get(id);
      // Dropped by retain() meanwhile: the container is gone, keep nothing. On failure the last
      // good figure stays (and is answered), with its age, so the next call tries again.
      if (cur) {
        if (value) this.cache.set(id, { at: this.now(), value });
        else if (cur.value) this.cache.set(id, { at: cur.at, value: cur.value });
        else this.cache.delete(id);
      }
      done(value ?? cur?.value);
    });
    await Promise.all(waits);
    return out;
  }

  retain(live: ReadonlySet<string>): void {
    for (const id of this.cache.keys()) if (!live.has(id)) this.cache.delete(id);
  }
}
