// Writable layer usage (bytes, inodes) of containers: Snapshots.Usage of the container's active
// snapshot. For overlayfs that is a walk of the upper directory (a `du`), so its cost grows with what
// the container wrote; it is bounded three ways:
// - at most USAGE_CONCURRENCY walks in flight per instance, however many calls ask at once;
// - an answer is reused for TTL_MS (10 s). kubelet polls stats every 10 s (its housekeeping period),
//   and one poll may ask twice (ListContainerStats and ListPodSandboxStats, plus the /metrics/cadvisor
//   scrape): with the cache a layer is walked at most once per period. Ephemeral-storage eviction
//   is decided at that same period, so 10 s old figures lose nothing. Concurrent asks for one
//   container share the walk in flight;
// - an older answer is still answered at once (with the time it was measured) while a walk in the
//   background refreshes it for the next call, as containerd's CRI plugin answers from a snapshot
//   cache its syncer refreshes: a stats call waits for walks only for containers never measured.
// The cache holds one entry per container the store knows and drops the others on retain(): it is
// bounded by the container count, not by time or traffic.
import { ContainerdClient, isNotFound } from '@crisp/containerd';

export const USAGE_CONCURRENCY = 8;
export const TTL_MS = 10_000;

export interface LayerUsage {
  bytes: bigint;
  inodes: bigint;
  /** When it was measured, ns since the epoch. */
  timestamp: bigint;
}

/** Snapshots.Usage of container `id`'s writable layer. */
export type UsageFn = (id: string, signal?: AbortSignal) => Promise<{ size: bigint; inodes: bigint }>;

interface Entry {
  at: number;
  value?: LayerUsage;
  pending?: Promise<LayerUsage | undefined>;
}

export class WritableLayerUsage {
  private readonly cache = new Map<string, Entry>();
  /** Walks in flight, and the walks waiting for one of them to end. */
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    private readonly usage: UsageFn,
    private readonly ttlMs = TTL_MS,
    private readonly concurrency = USAGE_CONCURRENCY,
    private readonly now: () => number = Date.now,
    private readonly onError: (id: string, err: unknown) => void = () => undefined,
  ) {}

  /**
   * Over containerd's Snapshots.Usage. `keyOf` names a container's snapshotter and snapshot key;
   * by default the container id in `snapshotter` (how crisp and containerd's CRI plugin key them).
   */
  static forContainerd(
    containerd: ContainerdClient,
    snapshotter: string,
    onError?: (id: string, err: unknown) => void,
    keyOf: (id: string) => { snapshotter: string; key: string } = (id) => ({ snapshotter, key: id }),
  ): WritableLayerUsage {
    return new WritableLayerUsage((id, signal) => containerd.snapshots.usage(keyOf(id), { signal }), TTL_MS, USAGE_CONCURRENCY, Date.now, onError);
  }

  get size(): number {
    return this.cache.size;
  }

  /** Usage per container id; absent when unknown or failed. */
  async get(ids: readonly string[], signal?: AbortSignal): Promise<Map<string, LayerUsage>> {
    const out = new Map<string, LayerUsage>();
    const now = this.now();
    const waits: Promise<void>[] = [];
    for (const id of new Set(ids)) {
      const e = this.cache.get(id);
      if (e?.value) {
        out.set(id, e.value);
        // The caller may be gone by the time a background walk ends: it takes no signal.
        if (now - e.at >= this.ttlMs && !e.pending) void this.walk(id);
      } else {
        waits.push((e?.pending ?? this.walk(id, signal)).then((v) => void (v && out.set(id, v))));
      }
    }
    await Promise.all(waits);
    return out;
  }

  /** Measures `id` (one walk in flight per container, shared) and records the answer. */
  private walk(id: string, signal?: AbortSignal): Promise<LayerUsage | undefined> {
    const prev = this.cache.get(id);
    const pending = this.limited(async () => {
      try {
        const u = await this.usage(id, signal);
        return { bytes: u.size > 0n ? u.size : 0n, inodes: u.inodes > 0n ? u.inodes : 0n, timestamp: BigInt(this.now()) * 1_000_000n };
      } catch (err) {
        if (!isNotFound(err) && !signal?.aborted) this.onError(id, err);
        return undefined;
      }
    }).then((value) => {
      const cur = this.cache.get(id);
      // Dropped by retain() meanwhile: the container is gone, keep nothing. On failure the last
      // good figure stays (and is answered), with its age, so the next call tries again.
      if (!cur) return value;
      if (value) this.cache.set(id, { at: this.now(), value });
      else if (cur.value) this.cache.set(id, { at: cur.at, value: cur.value });
      else this.cache.delete(id);
      return value ?? cur.value;
    });
    this.cache.set(id, { at: prev?.at ?? 0, ...(prev?.value ? { value: prev.value } : {}), pending });
    return pending;
  }

  /** Runs `fn` within the instance's walk concurrency. */
  private async limited<T>(fn: () => Promise<T>): Promise<T> {
    // A finishing walk hands its slot to the next waiter, so `active` counts slots, not calls.
    if (this.active >= this.concurrency) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.active++;
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }

  retain(live: ReadonlySet<string>): void {
    for (const id of this.cache.keys()) if (!live.has(id)) this.cache.delete(id);
  }
}
