// The image groups CreateContainer and RunPodSandbox resolve against, kept between calls so that
// creating a container needs no Images.List. Kept exact the way containerd's CRI plugin keeps its
// image store: any image event of crisp's namespace (another client's pull, tag or removal) and
// crisp's own record writes drop it; and it is only used while the event stream that would carry
// those events is live in the epoch it was filled in (a reconnect may have lost some).
import type { ImageGroup } from './image-index';

/** Where image changes are heard: the EventMonitor. */
export interface ImageChangeSource {
  onImageChange(listener: () => void): () => void;
  /** Changes with every (re)subscription; undefined while no subscription is live. */
  liveEpoch(): number | undefined;
}

export class ImageGroupsCache {
  private cached: { epoch: number; groups: ImageGroup[] } | undefined;
  /** Bumped by every change: a load that overlapped one is not kept. */
  private generation = 0;
  private source: ImageChangeSource | undefined;
  private unsubscribe: (() => void) | undefined;

  /** Starts using `source`'s events (replacing any earlier source). */
  follow(source: ImageChangeSource): void {
    this.unsubscribe?.();
    this.source = source;
    this.unsubscribe = source.onImageChange(() => this.invalidate());
    this.invalidate();
  }

  /** Image records changed (or may have): the next resolution lists them again. */
  invalidate(): void {
    this.generation++;
    this.cached = undefined;
  }

  /** The cached groups when they are still exact, else `load()`'s (kept when nothing changed meanwhile). */
  async get(load: () => Promise<ImageGroup[]>): Promise<ImageGroup[]> {
    const epoch = this.source?.liveEpoch();
    if (epoch === undefined) return load();
    if (this.cached?.epoch === epoch) return this.cached.groups;
    const generation = this.generation;
    const groups = await load();
    if (generation === this.generation && this.source?.liveEpoch() === epoch) this.cached = { epoch, groups };
    return groups;
  }
}

const caches = new WeakMap<object, ImageGroupsCache>();

/** The cache of one containerd client (crisp has one per namespace). */
export function imageGroupsCacheFor(client: object): ImageGroupsCache {
  let cache = caches.get(client);
  if (cache === undefined) {
    cache = new ImageGroupsCache();
    caches.set(client, cache);
  }
  return cache;
}
