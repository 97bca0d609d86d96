// The image groups kept between CreateContainer calls: used only while image events are heard, and
// dropped by any image change, a new subscription epoch, or crisp's own record writes.
import type { ImageGroup } from '../src/image/image-index';
import { ImageGroupsCache, imageGroupsCacheFor } from '../src/image/resolve-cache';
import type { ImageChangeSource } from '../src/image/resolve-cache';

class FakeSource implements ImageChangeSource {
  epoch: number | undefined = 1;
  private readonly listeners = new Set<() => void>();

  onImageChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  liveEpoch(): number | undefined {
    return this.epoch;
  }

  change(): void {
    for (const l of this.listeners) l();
  }
}

function group(id: string): ImageGroup {
  return { id, metadata: {} as ImageGroup['metadata'], records: [], repoTags: [], repoDigests: [], keys: new Set([id]), pinned: false };
}

/** A load that counts its calls and answers with the current `images`. */
function loader(images: { now: ImageGroup[] }) {
  const load = jest.fn(async () => [...images.now]);
  return load;
}

describe('ImageGroupsCache', () => {
  const images = { now: [group('sha256:a')] };
  beforeEach(() => {
    images.now = [group('sha256:a')];
  });

  it('lists every time while it hears no image events', async () => {
    const cache = new ImageGroupsCache();
    const load = loader(images);
    await cache.get(load);
    await cache.get(load);
    expect(load).toHaveBeenCalledTimes(2);

    const source = new FakeSource();
    source.epoch = undefined; // following, but the subscription is not live yet
    cache.follow(source);
    await cache.get(load);
    await cache.get(load);
    expect(load).toHaveBeenCalledTimes(4);
  });

  it('answers from memory while live, and lists again after an image event', async () => {
    const source = new FakeSource();
    const cache = new ImageGroupsCache();
    cache.follow(source);
    const load = loader(images);
    expect((await cache.get(load)).map((g) => g.id)).toEqual(['sha256:a']);
    expect((await cache.get(load)).map((g) => g.id)).toEqual(['sha256:a']);
    expect(load).toHaveBeenCalledTimes(1);

    images.now = []; // another client removed the image
    source.change();
    expect(await cache.get(load)).toEqual([]);
    expect(load).toHaveBeenCalledTimes(2);
  });

  it('lists again in a new subscription epoch (events may have been lost in between)', async () => {
    const source = new FakeSource();
    const cache = new ImageGroupsCache();
    cache.follow(source);
    const load = loader(images);
    await cache.get(load);
    images.now = [];
    source.epoch = 2;
    expect(await cache.get(load)).toEqual([]);
    expect(load).toHaveBeenCalledTimes(2);
  });

  it('does not keep a listing that a change overlapped', async () => {
    const source = new FakeSource();
    const cache = new ImageGroupsCache();
    cache.follow(source);
    let release: () => void = () => undefined;
    const slow = jest.fn(
      () =>
        new Promise<ImageGroup[]>((resolve) => {
          const seen = [...images.now];
          release = () => resolve(seen);
        }),
    );
    const pending = cache.get(slow);
    images.now = [];
    cache.invalidate(); // crisp's own RemoveImage, while the listing was under way
    release();
    expect((await pending).map((g) => g.id)).toEqual(['sha256:a']); // what that caller asked before the change
    const load = loader(images);
    expect(await cache.get(load)).toEqual([]);
    expect(load).toHaveBeenCalledTimes(1);
  });

  it('a failed listing is not kept', async () => {
    const source = new FakeSource();
    const cache = new ImageGroupsCache();
    cache.follow(source);
    await expect(cache.get(async () => Promise.reject(new Error('containerd away')))).rejects.toThrow('containerd away');
    const load = loader(images);
    await cache.get(load);
    await cache.get(load);
    expect(load).toHaveBeenCalledTimes(1);
  });

  it('stops hearing a source it no longer follows', async () => {
    const first = new FakeSource();
    const second = new FakeSource();
    const cache = new ImageGroupsCache();
    cache.follow(first);
    cache.follow(second);
    const load = loader(images);
    await cache.get(load);
    first.change();
    await cache.get(load);
    expect(load).toHaveBeenCalledTimes(1);
  });

  it('is one cache per containerd client', () => {
    const a = {};
    expect(imageGroupsCacheFor(a)).toBe(imageGroupsCacheFor(a));
    expect(imageGroupsCacheFor(a)).not.toBe(imageGroupsCacheFor({}));
  });
});
